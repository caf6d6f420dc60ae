// Calendar editor enhancements; the form works without them (a blank row is always
// offered, and the special-hours fields are simply always shown).
"use strict";

(() => {
  const form = document.querySelector("form.calendar-form");
  if (!form) return;

  // Same rule as ivr_admin.calendar.forms.field_id.
  const fieldId = (name) => "f-" + name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-+|-+$/g, "");

  // Labels carry {0}, {1} for the row numbers found in the field's name.
  const relabel = (el) => {
    const template = el.getAttribute("data-label");
    const name = el.getAttribute("name");
    if (!template || !name) return;
    const numbers = [...name.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]) + 1);
    el.setAttribute("aria-label", template.replace(/\{(\d)\}/g, (all, k) =>
      numbers[Number(k)] === undefined ? all : String(numbers[Number(k)])));
  };

  const renumber = (row, prefix, from, to) => {
    const oldName = `${prefix}[${from}]`;
    const newName = `${prefix}[${to}]`;
    const oldId = fieldId(oldName) + "-";
    const newId = fieldId(newName) + "-";
    const swap = (value, a, b) => (value && value.startsWith(a) ? b + value.slice(a.length) : value);
    for (const el of [row, ...row.querySelectorAll("*")]) {
      for (const attr of ["name", "data-prefix", "data-add", "data-mode-for"]) {
        if (el.hasAttribute(attr)) el.setAttribute(attr, swap(el.getAttribute(attr), oldName, newName));
      }
      for (const attr of ["id", "for"]) {
        if (el.hasAttribute(attr)) el.setAttribute(attr, swap(el.getAttribute(attr), oldId, newId));
      }
      relabel(el);
    }
  };

  const clear = (row) => {
    row.querySelectorAll(".field-error").forEach((el) => el.remove());
    row.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    row.querySelectorAll("input, textarea").forEach((el) => {
      if (el.type === "checkbox") el.checked = false;
      else if (el.type === "radio") el.checked = el.value === "closed";
      else el.value = "";
    });
    // A copied date setting starts with one empty time slot.
    row.querySelectorAll(".rows .rows").forEach((inner) => {
      [...inner.children].slice(1).forEach((extra) => extra.remove());
    });
    const legend = row.querySelector(":scope > legend");
    if (legend) legend.textContent = legend.textContent.replace(/^\d+/, String(row.parentElement.children.length));
  };

  const addRow = (prefix) => {
    const rows = [...form.querySelectorAll(".rows")].find((el) => el.getAttribute("data-prefix") === prefix);
    if (!rows || !rows.lastElementChild) return;
    const last = rows.lastElementChild;
    const count = rows.children.length;
    const copy = last.cloneNode(true);
    renumber(copy, prefix, count - 1, count);
    rows.appendChild(copy);
    clear(copy);
    syncModes();
    const first = copy.querySelector("input:not([type=hidden]), textarea");
    if (first) first.focus();
  };

  // Special hours are only used with 「特別な受付時間」: hide them otherwise.
  const syncModes = () => {
    form.querySelectorAll("[data-mode-for]").forEach((box) => {
      const name = box.getAttribute("data-mode-for");
      const chosen = [...form.querySelectorAll('input[type="radio"]')].find(
        (r) => r.name === name && r.checked);
      box.hidden = !chosen || chosen.value !== "hours";
    });
  };

  form.addEventListener("click", (event) => {
    const button = event.target.closest("[data-add]");
    if (!button) return;
    event.preventDefault();
    addRow(button.getAttribute("data-add"));
  });
  form.addEventListener("change", (event) => {
    if (event.target.matches('input[type="radio"]')) syncModes();
  });
  form.querySelectorAll("[data-add]").forEach((button) => { button.hidden = false; });
  syncModes();
})();
