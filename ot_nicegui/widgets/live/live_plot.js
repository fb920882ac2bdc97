// A Plotly chart that grows from the live feed: the one way a chart in this app gets new points.
// The server sends the whole figure when the chart is built, when a series is added, when the
// page (re)connects, when the chart asks for it and when it zooms, with `stream` (the name of the
// chart stream it shows), `keys` (the series key of each trace) and `ends` (the index, in its
// series, of the first point each trace lacks: a long series comes downsampled, so its trace
// holds fewer points than that). Feed messages carry the new points of every series of a stream
// (`points[stream][key]`: the index of the batch's first point, xs, ys), so the same message
// serves every page; each one becomes one batched `extendTraces`.
//
// What keeps the chart whole: series keys (scalar tags, with slashes) are never used in a
// selector or an id; a chart the page does not show only collects points and is drawn once
// shown; a chart that lacks points (a message it never got) asks the server for the figure; a
// plotly call that fails makes the next drawing start afresh.
import { toRaw } from "vue";
import { subscribe, unsubscribe } from "ot-live";

const KEPT_MESSAGES = 40; // feed messages kept to re-apply after a full update that was older than them
const RESEND_AFTER_MS = 2000; // a chart asks for the figure again at most this often

export default {
  template: "<div></div>",
  props: { options: Object, stream: String, keys: Array, ends: Array, max_points: Number },
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
    this.resizeObserver = new ResizeObserver(() => this.whenShown());
    this.resizeObserver.observe(this.$el);
  },
  activated() {
    // the tab panels keep hidden tabs alive: a chart that was away is drawn as it comes back
    this.$nextTick(() => this.whenShown());
  },
  unmounted() {
    unsubscribe(this.onLive);
    this.resizeObserver?.disconnect();
    clearTimeout(this.resendTimer);
  },
  methods: {
    shown() {
      return this.$el.isConnected && this.$el.offsetParent !== null;
    },
    whenShown() {
      if (!this.Plotly || !this.shown()) return;
      if (this.dirty || !this.drawn) this.draw();
      else this.attempt(() => this.Plotly.Plots.resize(this.$el));
    },
    adopt() {
      // a full update from the server: its figure, and the next point each trace's series adds
      this.adopted = toRaw(this.options);
      this.next = [...(this.ends ?? [])];
    },
    update() {
      // called by NiceGUI after every full update of the element
      if (toRaw(this.options) !== this.adopted) this.adopt();
      if (!this.Plotly) return; // mounted() draws once plotly.js has loaded
      this.recent = this.recent.filter((message) => message.points[this.stream]); // another stream now
      this.apply(this.recent, false);
      this.dirty = true;
      this.whenShown();
    },
    figure() {
      return toRaw(this.options); // plain arrays: plotly reads every point, a reactive proxy would slow it down
    },
    attempt(call) {
      // a plotly call; one that fails (synchronously or not) makes the next drawing start afresh
      const failed = (error) => {
        console.warn("chart redrawn after a failed update:", error);
        this.broken = true;
        this.dirty = true;
        setTimeout(() => this.whenShown(), 0);
      };
      try {
        const result = call();
        if (result && typeof result.catch === "function") result.catch(failed);
        return true;
      } catch (error) {
        failed(error);
        return false;
      }
    },
    draw() {
      // the whole figure; only while shown (plotly measures the element)
      if (!this.shown()) {
        this.dirty = true;
        return;
      }
      this.dirty = false;
      const figure = this.figure();
      // the arrays grow in place, so tell plotly.react that the data changed
      figure.layout.datarevision = (figure.layout.datarevision ?? 0) + 1;
      if (this.broken) {
        this.broken = false;
        this.attempt(() => this.Plotly.purge(this.$el));
      }
      this.drawn = this.attempt(() => this.Plotly.react(this.$el, figure.data, figure.layout, figure.config));
      if (this.drawn && !this.listening) this.listen();
    },
    listen() {
      // a zoom (or a return to the whole chart) asks the server for the points of that x-range
      this.listening = true;
      this.$el.on("plotly_relayout", (event) => {
        if (!event) return;
        const range = event["xaxis.range"];
        const x0 = range ? range[0] : event["xaxis.range[0]"];
        const x1 = range ? range[1] : event["xaxis.range[1]"];
        if (x0 !== undefined && x1 !== undefined) this.$emit("zoom", { x0, x1 });
        else if (event["xaxis.autorange"]) this.$emit("zoom", {});
      });
    },
    resend() {
      // points are missing (a message this page never got): the server sends the figure again
      if (this.resendTimer) return;
      const since = performance.now() - (this.resentAt ?? -Infinity);
      this.resendTimer = setTimeout(() => {
        this.resendTimer = null;
        this.resentAt = performance.now();
        this.$emit("resend");
      }, Math.max(0, RESEND_AFTER_MS - since));
    },
    apply(messages, redraw = true) {
      // the points each trace does not have yet
      const traces = this.figure().data;
      const max = this.max_points ?? 0; // 0: keep every point
      const update = { x: [], y: [] };
      const indices = [];
      let gap = false;
      traces.forEach((trace, index) => {
        const key = this.keys?.[index];
        const xs = [];
        const ys = [];
        let have = this.next[index] ?? trace.x.length; // the index of the next point
        for (const message of messages) {
          const points = message.points[this.stream]?.[key];
          if (!points) continue;
          const [first, newX, newY] = points;
          const skip = have - first;
          if (skip < 0) gap = true;
          if (skip < 0 || skip >= newX.length) continue; // a gap or nothing new
          xs.push(...newX.slice(skip));
          ys.push(...newY.slice(skip));
          have += newX.length - skip;
        }
        this.next[index] = have;
        if (xs.length) {
          update.x.push(xs);
          update.y.push(ys);
          indices.push(index);
        }
      });
      if (gap && redraw) this.resend();
      if (!indices.length) return;
      if (redraw && this.Plotly && this.drawn && !this.dirty && this.shown()) {
        // every trace in one redraw; plotly drops the points beyond `max` from the front
        const args = max ? [update, indices, max] : [update, indices];
        // a failed call may have appended part of the points: the server's figure replaces them
        if (!this.attempt(() => this.Plotly.extendTraces(this.$el, ...args))) this.resend();
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
      if (redraw && this.Plotly) {
        this.dirty = true;
        this.whenShown(); // drawn now if shown, else when shown
      }
    },
  },
};
