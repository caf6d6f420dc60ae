"""The templates shipped for the names the default flow uses.

Facts from the project's マイナ保険証 notes (as of 2026-11); the city checks every
sentence before go-live and replaces 「○○市」. Each text ends with the configured
fraud-warning line, and a link line is left out when its domain is not on the
configured list, so the shipped set always passes the rules it is checked against.
"""

from __future__ import annotations

from types import MappingProxyType
from urllib.parse import urlsplit

from ivr.sms.templates import Rules, TemplateSet, links

# Each template: lines of text; a line holding a link is kept only if its domain is allowed.
_TEXTS: dict[str, tuple[str, ...]] = {
    "sms_registration": (
        "【○○市】マイナ保険証のご案内",
        "マイナ保険証は、マイナンバーカードを健康保険証として使う仕組みです。"
        "利用登録は、医療機関や薬局の顔認証付きカードリーダー、マイナポータル、"
        "セブン銀行のATMででき、登録後すぐに使えます。登録には4桁の暗証番号が必要です。"
        "受診のときは、カードをカードリーダーに置き、顔認証か暗証番号で本人確認をしてください。"
        "登録済みかどうかは、マイナポータルの「証明書」→「健康保険証」で確認できます。",
        "カードが読み取れないとき: https://www.mhlw.go.jp/stf/newpage_50657.html",
        "詳しくは: https://www.mhlw.go.jp/stf/web_magazine/closeup/31.html",
    ),
    "sms_certificate": (
        "【○○市】資格確認書のご案内",
        "マイナンバーカードをお持ちでない方、利用登録をしていない方、登録を解除した方、"
        "電子証明書の有効期限が切れた方などには、申請しなくても資格確認書が届きます。"
        "受診のときは、資格確認書を窓口で見せてください。"
        "マイナ保険証をお持ちの方に届く「資格情報のお知らせ」だけでは受診できません。"
        "資格確認書が届かないときは、ご加入の健康保険（国民健康保険は市の担当窓口）に"
        "お問い合わせください。",
        "詳しくは: https://www.mhlw.go.jp/stf/newpage_40406.html",
        "よくある質問: https://faq.myna.go.jp/faq/show/3505",
    ),
    "sms_lost": (
        "【○○市】マイナンバーカードをなくしたら、すぐにマイナンバー総合フリーダイヤル"
        "0120-95-0178（紛失・盗難は24時間365日受付）に電話して利用を止め、"
        "警察にも届け出てください。再発行の申請は市の窓口でできます。"
        "再発行までの受診には、ご加入の健康保険に資格確認書を申請してください。"
        "暗証番号を忘れたときは、カードと本人確認書類を持って市の窓口へお越しください。",
        "詳しくは: https://faq.myna.go.jp/",
    ),
    "sms_expiry": (
        "【○○市】電子証明書の有効期限のご案内",
        "マイナンバーカードの電子証明書は、発行から5回目の誕生日に有効期限を迎えます。"
        "期限が過ぎても3か月間はマイナ保険証として使えますが、その後は利用登録が解除されます。"
        "更新は無料で、カードをお持ちのうえ市の窓口でお手続きください。"
        "窓口の受付は{office_hours}です。",
        "詳しくは: https://faq.myna.go.jp/",
    ),
    "sms_changes": (
        "【○○市】引っ越し・就職・退職のときのご案内",
        "引っ越したときは、14日以内に転入届を出し、90日以内にマイナンバーカードの"
        "継続利用の手続き（4桁の暗証番号が必要）をしてください。"
        "手続きをしないと、カードが使えなくなります。"
        "就職や退職で健康保険が変わるときは、マイナ保険証をお使いの方も、"
        "加入と脱退の届出が必要です。国民健康保険の届出は市の窓口で受け付けます"
        "（受付は{office_hours}）。",
        "詳しくは: https://www.mhlw.go.jp/stf/newpage_40406.html",
    ),
}

NAMES = tuple(_TEXTS)


def default_templates(rules: Rules) -> TemplateSet:
    """The shipped set for ``rules``: links the rules refuse are left out, and every
    text ends with the configured fraud-warning line."""
    out: dict[str, str] = {}
    for name, lines in _TEXTS.items():
        kept = [line for line in lines if _links_allowed(line, rules)]
        out[name] = "\n".join([*kept, rules.fraud_warning])
    return TemplateSet(MappingProxyType(out))


def _links_allowed(line: str, rules: Rules) -> bool:
    return all(rules.allows_host(urlsplit(link).hostname or "") for link in links(line))
