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

  // ---- charts follow the theme ----------------------------------------------------------------
  // Every Plotly chart is drawn with one template built from the colour tokens of app.css: plotly's
  // `react` and `newPlot` get it once plotly.js is loaded (the first chart, drawn before that, is
  // restyled), and a theme switch restyles every chart.
  function chartTemplate() {
    const css = getComputedStyle(document.body);
    const token = function (name) { return css.getPropertyValue(name).trim(); };
    const text = token('--ot-chart-text');
    const grid = token('--ot-chart-grid');
    const axis = { color: text, gridcolor: grid, linecolor: grid, zerolinecolor: token('--ot-chart-zeroline'),
      tickfont: { color: text }, title: { font: { color: text } } };
    return {
      layout: {
        paper_bgcolor: token('--ot-chart-paper'),
        plot_bgcolor: token('--ot-chart-plot'),
        font: { color: text },
        colorway: token('--ot-chart-colorway').split(',').map(function (c) { return c.trim(); }),
        xaxis: axis,
        yaxis: axis,
        legend: { font: { color: text } },
        hoverlabel: { bgcolor: token('--ot-surface-raised'), bordercolor: grid, font: { color: token('--ot-text') } },
        modebar: { bgcolor: 'rgba(0,0,0,0)', color: token('--ot-text-muted'), activecolor: text },
      },
    };
  }
  function withTemplate(layout) {
    return Object.assign({}, layout || {}, { template: chartTemplate() });
  }
  let plotly = null;
  function themePlotly(module) {
    if (plotly) return;
    plotly = module.Plotly;
    ['react', 'newPlot'].forEach(function (name) {
      const draw = plotly[name];
      // (gd, data, layout, config) or (gd, {data, layout, config}, config)
      plotly[name] = function (gd, data, layout, config) {
        if (data && !Array.isArray(data)) return draw.call(this, gd, Object.assign({}, data, { layout: withTemplate(data.layout) }), layout);
        return draw.call(this, gd, data, withTemplate(layout), config);
      };
    });
  }
  function restyleChart(gd) {
    if (!plotly || !gd._fullLayout) return;
    const template = chartTemplate();
    if (gd._fullLayout.paper_bgcolor === template.layout.paper_bgcolor) return; // drawn with it already
    plotly.relayout(gd, { template: template });
  }
  function restyleCharts() {
    document.querySelectorAll('.js-plotly-plot').forEach(restyleChart);
  }
  // a dialog is named by its title: the first line in it styled as one
  function nameDialog(dialog) {
    const title = dialog.querySelector('[role="heading"], .text-h5, .text-h6, .text-lg, .text-subtitle1');
    if (title && title.id) dialog.setAttribute('aria-labelledby', title.id);
    else if (title) dialog.setAttribute('aria-label', title.textContent.trim());
  }
  function chartSeen(gd) {
    if (plotly) restyleChart(gd);
    else import('nicegui-plotly').then(function (module) { themePlotly(module); restyleCharts(); });
  }
  // a chart is drawn (plotly adds its container to the element), or a tab that was away comes back
  // with its charts (hidden tabs are kept out of the document, so a theme switch did not reach them)
  new MutationObserver(function (records) {
    for (const record of records) {
      if (record.target.classList && record.target.classList.contains('js-plotly-plot')) chartSeen(record.target);
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        if (node.classList.contains('js-plotly-plot')) chartSeen(node);
        else node.querySelectorAll('.js-plotly-plot').forEach(chartSeen);
        node.querySelectorAll('[role="dialog"]:not([aria-label]):not([aria-labelledby])').forEach(nameDialog);
      }
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
  // the theme changes: Quasar switches the body's class
  let dark = null;
  new MutationObserver(function () {
    const now = document.body.classList.contains('body--dark');
    if (now === dark) return;
    dark = now;
    restyleCharts();
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });

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
