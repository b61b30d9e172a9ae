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
