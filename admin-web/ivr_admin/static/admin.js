// Light enhancements only: every page works without JavaScript.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const message = form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.getAttribute("data-copy")).then(() => {
    const label = button.textContent;
    button.textContent = "コピーしました";
    setTimeout(() => { button.textContent = label; }, 2000);
  });
});

// Allowlist editor: say, while typing, whether the list is valid and still admits us.
const allowlist = document.getElementById("allowlist");
const allowlistCheck = document.getElementById("allowlist-check");
if (allowlist && allowlistCheck) {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let timer = null;
  const check = async () => {
    const response = await fetch("/api/allowlist/check", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ allowlist: allowlist.value }),
      credentials: "same-origin",
    });
    if (!response.ok) return;
    const result = await response.json();
    if (!result.valid) {
      allowlistCheck.textContent = result.errors.join(" ");
      allowlistCheck.className = "live bad";
    } else if (!result.includes_you) {
      allowlistCheck.textContent =
        `注意: この内容では、現在の接続元（${result.your_address}）から利用できなくなります。`;
      allowlistCheck.className = "live bad";
    } else {
      allowlistCheck.textContent = "";
      allowlistCheck.className = "live";
    }
  };
  allowlist.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  });
}
