/* The patient chat page's own behaviour (loaded by the page head; the chat is Gradio's):
 * - a citation marker [n] opens its source card (the n-th card of the same answer) and moves there;
 * - message labels read as text: Gradio labels each message with its raw markdown, which screen readers
 *   would spell out (asterisks, HTML of the source cards);
 * - inside the widget iframe the page is marked, so the styles can use the whole panel. */
(function () {
  "use strict";
  if (window.top !== window.self || /[?&]embed=1\b/.test(location.search)) {
    document.documentElement.classList.add("embedded");
  }
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.cite-ref");
    if (!a) return;
    e.preventDefault();
    var n = parseInt((a.getAttribute("href") || "").replace(/\D+/g, ""), 10);
    var msg = a.closest(".message-content, .message, [data-testid='bot']") || document;
    var holder = a.closest("[data-testid='bot']") || msg;
    var cards = holder.querySelectorAll("details.cite");
    var card = cards[n - 1];
    if (!card) return;
    card.open = true;
    var summary = card.querySelector("summary");
    card.scrollIntoView({ block: "nearest" });
    if (summary) summary.focus({ preventScroll: true });
  });
  function plain(el) {
    return (el.innerText || el.textContent || "").replace(/\s+/g, " ").trim();
  }
  function fixLabels() {
    document.querySelectorAll("#chat [aria-label]").forEach(function (el) {
      var label = el.getAttribute("aria-label") || "";
      if (/[<*\[\]_`#]/.test(label) && /message/i.test(label)) {
        var text = plain(el);
        el.setAttribute("aria-label", (label.split(":")[0] || "message") + ": " + text.slice(0, 300));
      }
    });
  }
  new MutationObserver(function () { fixLabels(); }).observe(document.documentElement, { childList: true, subtree: true });
})();
