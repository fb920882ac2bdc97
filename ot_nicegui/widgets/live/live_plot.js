// A Plotly chart of the run's scalars that grows from the live feed. The server sends the whole
// figure when the chart is built, when a series is added and when the page (re)connects; feed
// messages carry the new points of every series (keyed by the trace's `uid`, with the index of
// their first point), so the same message serves every page; each one becomes one batched
// `extendTraces`. A chart the page does not show only collects points and redraws once shown.
import { toRaw } from "vue";
import { subscribe, unsubscribe } from "ot-live";

const KEPT_MESSAGES = 40; // feed messages kept to re-apply after a full update that was older than them

export default {
  template: "<div></div>",
  props: { options: Object, run: Number },
  async mounted() {
    this.recent = [];
    this.onLive = (message) => {
      if (message.run !== this.run || !message.points) return;
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
    update() {
      // called by NiceGUI after every full update of the element
      if (!this.Plotly) return; // mounted() draws once plotly.js has loaded
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
      // the points each trace does not have yet (`first` is the index of a batch's first point)
      const traces = this.figure().data;
      const update = { x: [], y: [] };
      const indices = [];
      traces.forEach((trace, index) => {
        const xs = [];
        const ys = [];
        let have = trace.x.length;
        for (const message of messages) {
          const points = message.points[trace.uid];
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
        }
      });
      if (!indices.length) return;
      if (redraw && this.Plotly && this.shown()) {
        this.Plotly.extendTraces(this.$el, update, indices); // every trace in one redraw
        return;
      }
      indices.forEach((index, i) => {
        traces[index].x.push(...update.x[i]);
        traces[index].y.push(...update.y[i]);
      });
      if (redraw && this.Plotly) this.dirty = true; // drawn when the chart is shown
    },
  },
};
