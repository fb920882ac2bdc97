// The run's duration, ticking in the page while the run goes: the server sends the seconds the
// run had lasted when it sent this element (again on every phase change and reconnect), and the
// page counts on from there, so no message is needed to move it.
export default {
  template: "<span>{{ text }}</span>",
  props: { seconds: Number, running: Boolean },
  data() {
    return { now: performance.now() };
  },
  computed: {
    text() {
      if (this.seconds === null || this.seconds === undefined) return "–";
      const elapsed = this.running ? (this.now - this.since) / 1000 : 0;
      return format(this.seconds + Math.max(0, elapsed));
    },
  },
  watch: {
    seconds() {
      this.since = performance.now();
      this.now = this.since;
    },
  },
  created() {
    this.since = performance.now();
  },
  mounted() {
    this.timer = setInterval(() => {
      if (this.running) this.now = performance.now();
    }, 1000);
  },
  unmounted() {
    clearInterval(this.timer);
  },
};

function format(total) {
  // as the server's format_duration: m:ss, or h:mm:ss from an hour on
  const seconds = Math.round(Math.max(0, total));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const secs = String(seconds % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}
