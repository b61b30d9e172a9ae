// Progress polling for background runs and confirmation prompts. No inline scripts (CSP).
(function () {
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      if (!window.confirm(form.getAttribute('data-confirm'))) { ev.preventDefault(); }
    });
  });
  var box = document.getElementById('run-progress');
  if (!box) { return; }
  var url = box.getAttribute('data-status-url');
  function poll() {
    fetch(url, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (s) {
      var bar = box.querySelector('.progress-bar');
      bar.style.width = s.progress + '%';
      bar.textContent = s.progress + '%';
      box.querySelector('.run-status').textContent = s.label;
      if (s.status === 'finished' || s.status === 'failed') { window.location.reload(); return; }
      window.setTimeout(poll, 1500);
    }).catch(function () { window.setTimeout(poll, 5000); });
  }
  if (box.getAttribute('data-done') !== '1') { window.setTimeout(poll, 1000); }
})();
// Hazard form: citing a direct-determination item makes the hazard major; say so at once.
(function () {
  var notice = document.getElementById('major-notice');
  if (!notice) { return; }
  function update() {
    var major = document.querySelector('input.cite[data-kind="direct"]:checked') !== null;
    notice.classList.toggle('d-none', !major);
    var level = document.getElementById('level');
    if (level && major) { level.value = 'major'; }
  }
  document.querySelectorAll('input.cite').forEach(function (box) { box.addEventListener('change', update); });
  update();
})();
// Hazard form: the catalogue box scrolls, so list the ticked item numbers under it.
(function () {
  var summary = document.getElementById('cite-summary');
  if (!summary) { return; }
  function update() {
    var numbers = [];
    document.querySelectorAll('input.cite:checked').forEach(function (box) {
      var label = document.querySelector('label[for="' + box.id + '"] strong');
      numbers.push(label ? label.textContent.trim() : box.value);
    });
    summary.textContent = '已勾选：' + (numbers.length ? numbers.join('、') : '无');
  }
  document.querySelectorAll('input.cite').forEach(function (box) { box.addEventListener('change', update); });
  update();
})();
// Starting an inspection: the kind is chosen first; changing it reloads the form with the schools
// that kind allows (a leader's 暗访 lists only the assigned units).
(function () {
  var kind = document.querySelector('select[data-kind-switch]');
  if (!kind) { return; }
  kind.addEventListener('change', function () {
    var url = new URL(window.location.href);
    url.searchParams.set('kind', kind.value);
    window.location.assign(url.toString());
  });
})();
