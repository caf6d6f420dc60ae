"""Regenerate ``ivr_admin/data/common-passwords.txt`` from well-known patterns.

No list can be downloaded where this runs, so the file is built from words and
habits that top every public breach corpus (English and Japanese romaji words,
names, keyboard walks, digit runs, word + year/number/symbol). The policy also
strips digits and symbols from both ends and undoes leetspeak before looking a
password up, so "P@ssw0rd2024!" is caught by the single entry "password".

    python admin-web/tools/make_common_passwords.py
"""

from __future__ import annotations

from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


OUT = Path(__file__).resolve().parents[1] / "ivr_admin" / "data" / "common-passwords.txt"

ENGLISH = _words(
    """
password passwd passw0rd pass pa55word qwerty letmein welcome admin administrator root
superuser guest user login logon changeme default secret private master access iloveyou
loveyou lovely love dragon monkey football baseball basketball soccer hockey tennis golf
sunshine princess shadow superman batman spiderman starwars trustno1 whatever freedom
hello charlie michael jennifer jordan hunter ranger buster tigger pokemon computer
internet summer winter spring autumn flower angel cookie chocolate cheese banana orange
apple pepper ginger purple silver golden diamond killer thomas robert daniel matthew
andrew joshua jessica ashley amanda michelle nicole maggie harley dallas yankees cowboys
eagles lakers mustang ferrari porsche corvette jaguar tiger lion bear wolf eagle falcon
phoenix thunder lightning storm rainbow butterfly heaven angel1 blessed jesus christ god
family friends forever together happy smile sunny beautiful pretty sweet honey baby
babygirl sweetheart darling kitty puppy doggy snoopy mickey minnie disney barbie america
canada london paris berlin london123 soccer1 football1 letmein1 welcome1 test testing
tester demo sample example temp temporary server system network office company business
manager support service helpdesk backup database oracle mysql postgres linux windows
ubuntu debian microsoft google facebook twitter youtube amazon apple123 samsung iphone
android nokia sony nintendo playstation xbox minecraft fortnite roblox matrix zombie
ninja pirate wizard magic merlin gandalf hobbit legend hero warrior knight secure
security firewall qwertyuiop asdfghjkl zxcvbnm qwerty123 qwertyui asdfgh zxcvbn azerty
qwertz abcdef abcdefg abcdefgh abcdefghij abcdefghijkl abc123 abcd1234 aaaaaa
"""
)

JAPANESE = _words(
    """
sakura tokyo osaka kyoto nihon nippon japan arigatou arigato konnichiwa sayonara ohayou
doraemon pikachu naruto goku totoro gundam ultraman anpanman hellokitty kitty yamato
samurai ninja sushi ramen tempura fujisan fuji shibuya shinjuku yokohama nagoya sapporo
fukuoka kobe sendai hiroshima kawasaki saitama chiba okinawa hokkaido kyushu shikoku
tanaka suzuki sato satou takahashi watanabe ito itou yamamoto nakamura kobayashi kato
katou yoshida yamada sasaki yamaguchi matsumoto inoue kimura hayashi shimizu yamazaki
mori abe ikeda hashimoto ishikawa ogawa okada goto hasegawa murakami kondo ishii saito
taro tarou hanako yuki hikari haruka daisuke kenji takashi hiroshi akira makoto satoshi
yuta yuto haruto sota riku ren hina yui aoi mei rin sakurako kaede momo miku hinata
mynumber mainumber myna maina mainakado hoken hokensho hokenshou kokuho kokumin kenkou
kenkouhoken shiyakusho yakusho yakuba cityhall shichoson kuyakusho soumu somu kikaku
jouhou joho madoguchi juumin jumin koseki zeimu fukushi kaigo nenkin iryou iryo
callcenter koruse ivr denwa keitai sumaho pasokon pasuwado pasuwaado himitsu anshin
kanri kanrisha kanrigamen riyousha tantou tantousha shokuin
"""
)

WALKS = _words(
    """
1qaz2wsx 1qaz2wsx3edc 1qaz2wsx3edc4rfv qazwsx qazwsxedc qazwsxedcrfv 1q2w3e4r 1q2w3e4r5t
1q2w3e4r5t6y 1q2w3e4r5t6y7u8i 1q2w3e 2wsx3edc zaq12wsx zaq1zaq1 !qaz2wsx qwe123 qweasd
qweasdzxc qweasdzxc123 asdf1234 asdfasdf qwerqwer zxcv1234 poiuytrewq lkjhgfdsa mnbvcxz
"""
)


def digit_runs() -> set[str]:
    runs = {"1234567890"[:n] for n in range(6, 11)} | {"0987654321"[:n] for n in range(6, 11)}
    runs |= {d * n for d in "0123456789" for n in (8, 10, 12, 14, 16)}
    runs |= {"123456789012", "12345678901234", "098765432112", "123123123123", "112233445566"}
    runs |= {"147258369", "159753", "741852963", "963852741", "123321", "123654789"}
    return runs


def main() -> None:
    words = {w.lower() for w in ENGLISH + JAPANESE}
    entries = set(words) | set(WALKS) | digit_runs()
    # Word + number/year variants are caught by the policy's edge stripping; a share of
    # them is listed anyway so the file also serves tools that compare whole strings.
    years = [str(y) for y in range(1980, 2031)]
    top = ENGLISH[:30] + JAPANESE[:20]
    for w in words:
        entries.add(w + w)
    for w in top:
        entries.update(w + s for s in ("1", "12", "123", "1234", "12345", "123456", "!", "123!"))
        entries.update(w + y for y in years)
    entries.update(f"ilove{w}" for w in sorted(words)[:200])
    entries = {e.lower() for e in entries if len(e) >= 4 and " " not in e}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(sorted(entries)) + "\n", encoding="utf-8")
    print(f"{len(entries)} entries -> {OUT}")


if __name__ == "__main__":
    main()
