// SMS template editor: a live count of characters and SMS parts while typing.
// Japanese SMS go as UCS-2: 70 characters fit one part, then 67 per part. A JavaScript
// string's length counts UTF-16 code units, exactly as the carriers (and the server) do.
"use strict";

(() => {
  const body = document.getElementById("body");
  const counter = document.getElementById("body-counter");
  if (!body || !counter) return;
  const longest = JSON.parse(body.dataset.longest || "{}");
  const max = Number(body.dataset.max || "660");
  const parts = (n) => (n <= 70 ? 1 : Math.ceil(n / 67));
  const fill = (text) =>
    text.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, name) => {
      if (match === "{{") return "{";
      if (match === "}}") return "}";
      return Object.prototype.hasOwnProperty.call(longest, name) ? longest[name] : match;
    });
  const update = () => {
    const text = body.value.replace(/\r\n?/g, "\n").trim();
    const n = text.length;
    const m = fill(text).length;
    let words = `${n}文字・${parts(n)}通`;
    if (m !== n) words += `（差し込み項目が最も長い場合 ${m}文字・${parts(m)}通）`;
    if (m > max) words += ` — 上限の${max}文字を超えています`;
    counter.textContent = words;
    counter.className = m > max ? "live bad" : "live";
  };
  body.addEventListener("input", update);
  update();
})();
