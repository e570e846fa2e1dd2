/* The console's only script of its own: Telegram's Mini App buttons, the initData header, and printing.
   No inline script anywhere (the Content-Security-Policy forbids it): pages say what they want with
   data- attributes, read here. */
(function () {
  "use strict";
  var tg = window.Telegram && window.Telegram.WebApp;
  var inTelegram = !!(tg && tg.initData);
  var up = null;  // where Telegram's BackButton leads from this page (the page says: data-up)
  var mainAction = null;

  document.addEventListener("htmx:configRequest", function (event) {
    // Every request from the Mini App carries initData; the server checks it each time.
    if (inTelegram) { event.detail.headers["Authorization"] = "tma " + tg.initData; }
  });

  function primary() { return document.querySelector("[data-main-button]"); }

  function setUpButtons() {
    if (!inTelegram) { return; }
    up = (document.querySelector("[data-page]") || {dataset: {}}).dataset.up || null;
    if (up) { tg.BackButton.show(); } else { tg.BackButton.hide(); }
    var element = primary();
    if (mainAction) { tg.MainButton.offClick(mainAction); mainAction = null; }
    if (element) {
      mainAction = function () {
        var form = element.form || (element.tagName === "FORM" ? element : null);
        if (form && form.requestSubmit) { form.requestSubmit(element.tagName === "FORM" ? undefined : element); }
        else { element.click(); }
      };
      tg.MainButton.setText(element.dataset.mainButton);
      tg.MainButton.onClick(mainAction);
      tg.MainButton.show();
      document.documentElement.classList.add("has-main-button");
    } else {
      tg.MainButton.hide();
      document.documentElement.classList.remove("has-main-button");
    }
  }

  // A patient's photo is fetched through the bot when shown. In Telegram an <img> cannot carry the
  // initData header, so the picture is fetched with it and shown from memory.
  function loadPhotos() {
    document.querySelectorAll("img[data-photo]:not([src])").forEach(function (img) {
      if (!inTelegram) { img.src = img.dataset.photo; return; }
      fetch(img.dataset.photo, {headers: {"Authorization": "tma " + tg.initData}})
        .then(function (answer) { return answer.ok ? answer.blob() : null; })
        .then(function (blob) { if (blob) { img.src = URL.createObjectURL(blob); } });
    });
  }

  function go(path) {
    window.htmx.ajax("GET", path, {target: "body", swap: "innerHTML"});
  }

  function start() {
    var shell = document.querySelector("[data-shell]");
    if (inTelegram) {
      document.documentElement.classList.add("in-telegram");
      tg.ready();
      tg.expand();
      tg.BackButton.onClick(function () { if (up) { go(up); } });
      // No address bar in Telegram, and a reload would lose the header: the URL stays the entry's.
      document.body.setAttribute("hx-push-url", "false");
    }
    if (shell) {
      if (inTelegram) { go(shell.dataset.shell); }
      else { shell.removeAttribute("hidden"); }
    } else {
      setUpButtons();
      loadPhotos();
    }
  }

  document.addEventListener("htmx:afterSettle", setUpButtons);
  document.addEventListener("htmx:afterSettle", loadPhotos);
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-print]");
    if (target) { event.preventDefault(); window.print(); }
    var confirmWith = event.target.closest("[data-confirm]");
    if (confirmWith && !window.confirm(confirmWith.dataset.confirm)) { event.preventDefault(); }
  });
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
