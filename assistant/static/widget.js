/* The clinic assistant's embeddable chat: one line on a clinic's page,
 *   <script src="https://assistant.your-clinic.example/widget.js" data-clinic-name="Riverside Clinic"
 *           data-color="#0b5563" data-position="right" defer></script>
 * adds a launcher button in a bottom corner; it opens a chat panel (an iframe of the patient chat) with a
 * close button, full screen on phones. Nothing loads, scrolls or covers the page until the patient opens it.
 * Everything lives in a shadow root, so the page's styles and ours leave each other alone. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__clinicAssistantWidget) return;
  window.__clinicAssistantWidget = true;
  var origin = new URL(script.src, location.href).origin;
  var data = script.dataset;
  var name = (data.clinicName || "our clinic").slice(0, 80);
  var color = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(data.color || "") ? data.color : "#0b5563";
  var left = (data.position || "").toLowerCase() === "left";

  function hex(c) { c = c.slice(1); if (c.length === 3) c = c.replace(/./g, "$&$&"); return [0, 2, 4].map(function (i) { return parseInt(c.substr(i, 2), 16) / 255; }); }
  function luminance(rgb) { return rgb.map(function (v) { return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
                                .reduce(function (s, v, i) { return s + v * [0.2126, 0.7152, 0.0722][i]; }, 0); }
  // Text on the clinic's colour: white or near-black, whichever contrasts more (WCAG AA needs 4.5:1).
  var L = luminance(hex(color));
  var ink = (1.05 / (L + 0.05)) >= ((L + 0.05) / 0.05) ? "#ffffff" : "#111111";
  var side = left ? "left" : "right";

  var host = document.createElement("div");
  host.id = "clinic-assistant";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".launcher{position:fixed;bottom:20px;" + side + ":20px;z-index:2147483000;display:flex;align-items:center;gap:8px;" +
    "padding:12px 18px;border:0;border-radius:28px;background:" + color + ";color:" + ink + ";font:600 16px/1.2 system-ui,sans-serif;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.3);cursor:pointer}" +
    ".launcher:focus-visible,.close:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}" +
    ".launcher svg{width:22px;height:22px;fill:currentColor}" +
    ".panel{position:fixed;bottom:20px;" + side + ":20px;z-index:2147483001;width:400px;height:min(680px,calc(100vh - 40px));" +
    "display:flex;flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;box-shadow:0 8px 32px rgba(0,0,0,.3)}" +
    ".panel[hidden],.launcher[hidden]{display:none}" +
    ".bar{display:flex;align-items:center;justify-content:space-between;padding:8px 8px 8px 16px;background:" + color + ";color:" + ink + ";" +
    "font:600 16px/1.2 system-ui,sans-serif}" +
    ".bar h2{margin:0;font:inherit}" +
    ".close{width:44px;height:44px;border:0;border-radius:8px;background:transparent;color:inherit;font:28px/1 system-ui,sans-serif;cursor:pointer}" +
    "iframe{flex:1;width:100%;border:0;background:#fff}" +
    "@media (max-width:600px){.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0;bottom:0;" + side + ":0}}" +
    "</style>" +
    '<button class="launcher" type="button" aria-haspopup="dialog" aria-expanded="false" aria-controls="panel">' +
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>' +
    "<span></span></button>" +
    '<div class="panel" id="panel" role="dialog" hidden><div class="bar"><h2></h2>' +
    '<button class="close" type="button" aria-label="Close chat">\u00d7</button></div></div>';

  var launcher = root.querySelector(".launcher");
  var panel = root.querySelector(".panel");
  var closeBtn = root.querySelector(".close");
  launcher.querySelector("span").textContent = "Questions? Ask " + name;
  root.querySelector("h2").textContent = "Ask " + name;
  panel.setAttribute("aria-label", "Chat with " + name);
  var frame = null;

  function open() {
    if (!frame) {  // the chat loads on first open only: no request, no focus, no scrolling before
      frame = document.createElement("iframe");
      frame.src = origin + "/?embed=1";
      frame.title = "Chat with " + name;
      frame.allow = "clipboard-write";
      panel.appendChild(frame);
    }
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    closeBtn.focus({ preventScroll: true });
  }
  function close() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus({ preventScroll: true });
  }
  launcher.addEventListener("click", open);
  closeBtn.addEventListener("click", close);
  root.addEventListener("keydown", function (e) { if (e.key === "Escape" && !panel.hidden) close(); });
  window.clinicAssistant = { open: open, close: close };

  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
