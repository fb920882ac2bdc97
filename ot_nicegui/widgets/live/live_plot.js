// A Plotly chart that grows from the live feed: the one way a chart in this app gets new points.
// The server sends the whole figure when the chart is built, when a series is added and when the
// page (re)connects, with `stream` (the name of the chart stream it shows), `keys` (the series key
// of each trace) and `starts` (the index of each trace's first point in its series, which moves
// on when a series keeps only its latest `max_points`). Feed messages carry the new points of
// every series of a stream (`points[stream][key]`: the index of the batch's first point, xs, ys),
// so the same message serves every page; each one becomes one batched `extendTraces`. A chart
// the page does not show only collects points and redraws once shown.
import { toRaw } from "vue";
import { subscribe, unsubscribe } from "ot-live";

const KEPT_MESSAGES = 40; // feed messages kept to re-apply after a full update that was older than them

export default {
  template: "<div></div>",
  props: { options: Object, stream: String, keys: Array, starts: Array, max_points: Number },
  async mounted() {
    this.recent = [];
    this.adopt();
    this.onLive = (message) => {
      if (!message.points || !message.points[this.stream]) return;
      this.recent.push(message);
      if (this.recent.length > KEPT_MESSAGES) this.recent.shift();
      this.apply([message]);
    };
    subscribe(this.onLive);
    const { Plotly } = await import("nicegui-plotly");
    this.Plotly = Plotly;
    this.update();
    this.resizeObserver = new ResizeObserver(() => {
      if (!this.shown()) return;
      if (this.dirty) this.draw();
      else this.Plotly.Plots.resize(this.$el);
    });
    this.resizeObserver.observe(this.$el);
  },
  unmounted() {
    unsubscribe(this.onLive);
    this.resizeObserver?.disconnect();
  },
  methods: {
    shown() {
      return this.$el.offsetParent !== null;
    },
    adopt() {
      // a full update from the server: its figure, and where each trace's points begin
      this.adopted = toRaw(this.options);
      this.first = [...(this.starts ?? [])];
    },
    update() {
      // called by NiceGUI after every full update of the element
      if (toRaw(this.options) !== this.adopted) this.adopt();
      if (!this.Plotly) return; // mounted() draws once plotly.js has loaded
      this.recent = this.recent.filter((message) => message.points[this.stream]); // another stream now
      this.apply(this.recent, false);
      this.draw();
    },
    figure() {
      return toRaw(this.options); // plain arrays: plotly reads every point, a reactive proxy would slow it down
    },
    draw() {
      this.dirty = false;
      const figure = this.figure();
      // the arrays grow in place, so tell plotly.react that the data changed
      figure.layout.datarevision = (figure.layout.datarevision ?? 0) + 1;
      this.Plotly.react(this.$el, figure.data, figure.layout, figure.config);
    },
    apply(messages, redraw = true) {
      // the points each trace does not have yet
      const traces = this.figure().data;
      const max = this.max_points ?? 0; // 0: keep every point
      const update = { x: [], y: [] };
      const indices = [];
      traces.forEach((trace, index) => {
        const key = this.keys?.[index];
        const xs = [];
        const ys = [];
        let have = (this.first[index] ?? 0) + trace.x.length; // the index of the next point
        for (const message of messages) {
          const points = message.points[this.stream]?.[key];
          if (!points) continue;
          const [first, newX, newY] = points;
          const skip = have - first;
          if (skip < 0 || skip >= newX.length) continue; // a gap (a full update will come) or nothing new
          xs.push(...newX.slice(skip));
          ys.push(...newY.slice(skip));
          have += newX.length - skip;
        }
        if (xs.length) {
          update.x.push(xs);
          update.y.push(ys);
          indices.push(index);
          const dropped = max ? Math.max(0, trace.x.length + xs.length - max) : 0;
          this.first[index] = (this.first[index] ?? 0) + dropped;
        }
      });
      if (!indices.length) return;
      if (redraw && this.Plotly && this.shown()) {
        // every trace in one redraw; plotly drops the points beyond `max` from the front
        if (max) this.Plotly.extendTraces(this.$el, update, indices, max);
        else this.Plotly.extendTraces(this.$el, update, indices);
        return;
      }
      indices.forEach((index, i) => {
        const trace = traces[index];
        trace.x.push(...update.x[i]);
        trace.y.push(...update.y[i]);
        if (max && trace.x.length > max) {
          trace.x.splice(0, trace.x.length - max);
          trace.y.splice(0, trace.y.length - max);
        }
      });
      if (redraw && this.Plotly) this.dirty = true; // drawn when the chart is shown
    },
  },
};
