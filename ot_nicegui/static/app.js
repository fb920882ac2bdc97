// Small browser-side helpers of the main page: connection state, tab keys, jumping to a field.
(function () {
  function showConnection(state) {
    const dot = document.getElementById('ot-connection');
    if (!dot) return;
    dot.dataset.state = state;
    const text = { online: 'connected', offline: 'disconnected', connecting: 'connecting' }[state];
    dot.setAttribute('aria-label', 'Connection: ' + text);
    dot.title = 'Connection to the server: ' + text;
  }
  const waitForSocket = setInterval(function () {
    if (!window.socket) return;
    clearInterval(waitForSocket);
    window.socket.on('connect', function () { showConnection('online'); });
    window.socket.on('disconnect', function () { showConnection('offline'); });
    showConnection(window.socket.connected ? 'online' : 'connecting');
  }, 250);

  // arrow keys, Home and End select the next, previous, first or last visible tab (handled in the
  // capture phase, before the tab bar's own key handling)
  document.addEventListener('keydown', function (event) {
    const tab = event.target.closest && event.target.closest('.q-tabs .q-tab');
    if (!tab) return;
    const tabs = Array.from(tab.closest('.q-tabs').querySelectorAll('.q-tab')).filter((t) => t.offsetParent !== null);
    let index = tabs.indexOf(tab);
    if (event.key === 'ArrowRight') index = (index + 1) % tabs.length;
    else if (event.key === 'ArrowLeft') index = (index - 1 + tabs.length) % tabs.length;
    else if (event.key === 'Home') index = 0;
    else if (event.key === 'End') index = tabs.length - 1;
    else return;
    event.preventDefault();
    event.stopPropagation();
    tabs[index].focus();
    tabs[index].click();
  }, true);

  // scroll a field into view and focus it, once its tab panel is rendered
  window.otFocusField = function (id, attempt) {
    const element = document.getElementById('c' + id);
    if (!element) {
      if ((attempt || 0) < 20) setTimeout(function () { window.otFocusField(id, (attempt || 0) + 1); }, 50);
      return;
    }
    const reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    element.scrollIntoView({ block: 'center', behavior: reduce ? 'auto' : 'smooth' });
    const focusable = element.matches('input, textarea, [tabindex]') ? element
      : element.querySelector('input, textarea, [tabindex]:not([tabindex="-1"])');
    (focusable || element).focus({ preventScroll: true });
    element.classList.add('ot-flash');
    setTimeout(function () { element.classList.remove('ot-flash'); }, 1600);
  };
})();
