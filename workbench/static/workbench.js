// Backstamp workbench: keyboard shortcuts. The pages work without this file (Tab to a button, Enter);
// it only adds keys. No network use of its own: every action is a link or one of the page's forms.
"use strict";

(function () {
  const rows = () => Array.from(document.querySelectorAll("tr.field-row"));
  const typing = (el) => el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");

  function selected() {
    return document.querySelector("tr.field-row.selected") || rows()[0] || null;
  }

  function select(row) {
    if (!row) return;
    rows().forEach((r) => r.classList.remove("selected"));
    row.classList.add("selected");
    row.scrollIntoView({ block: "nearest" });
  }

  function formOf(row) {
    const decide = row && row.nextElementSibling;
    return decide ? decide.querySelector("form.decide-form") : null;
  }

  function submit(row, decision) {
    const form = formOf(row);
    if (!form) return;
    const button = form.querySelector(`button[value="${decision}"]`);
    form.requestSubmit(button);
  }

  function follow(id) {
    const link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }

  function toggleHelp() {
    const help = document.getElementById("help");
    if (help) help.hidden = !help.hidden;
  }

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (typing(target)) {
      if (event.key === "Escape" && target.classList.contains("correction")) {
        target.blur();
        event.preventDefault();
      }
      return; // Enter in a correction submits its form as "correct" (the form's first button)
    }
    const page = document.body.dataset.page;
    const key = event.key;
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    if (page === "queue") {
      if (key === "Enter" || key === "j" || key === "ArrowRight") { follow("start"); event.preventDefault(); }
      return;
    }
    if (page !== "record") return;
    const current = selected();
    const all = rows();
    const index = all.indexOf(current);
    if (key === "j" || key === "ArrowRight") follow("next");
    else if (key === "k" || key === "ArrowLeft") follow("prev");
    else if (key === "q") follow("queue");
    else if (key === "ArrowDown") select(all[Math.min(index + 1, all.length - 1)]);
    else if (key === "ArrowUp") select(all[Math.max(index - 1, 0)]);
    else if (/^[1-9]$/.test(key) && all[Number(key) - 1]) select(all[Number(key) - 1]);
    else if (key === "a") submit(current, "accept");
    else if (key === "u") submit(current, "unreadable");
    else if (key === "c") {
      const form = formOf(current);
      const input = form && form.querySelector("input.correction");
      if (input) { input.focus(); input.select(); }
    } else return;
    event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("fields");
    if (table && table.dataset.selected) select(document.getElementById(`field-${table.dataset.selected}`));
    rows().forEach((row) => row.addEventListener("click", () => select(row)));
  });
})();
