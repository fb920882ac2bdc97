// The run's progress in the bottom bar. `state` is what the server knew when it last sent this
// element; feed messages with a later sequence number replace it until the next one.
import { subscribe, unsubscribe } from "ot-live";

export default {
  template: `
    <div class="row items-center no-wrap gap-x-3 grow">
      <div class="column gap-0 grow" style="min-width: 180px">
        <div class="text-xs">{{ view.epoch_text }}</div>
        <q-linear-progress :value="view.epoch_value" size="6px" color="white" track-color="white" instant-feedback
                           :aria-label="view.epoch_text" role="progressbar" />
        <div class="text-xs">{{ view.step_text }}</div>
        <q-linear-progress :value="view.step_value" size="6px" color="white" track-color="white" instant-feedback
                           :aria-label="view.step_text" role="progressbar" />
      </div>
      <div class="column gap-0" style="min-width: 160px">
        <div class="text-sm" role="status" aria-live="polite">{{ view.status }}</div>
        <div class="row gap-3 text-xs">
          <span>{{ view.rate }}</span>
          <span>{{ view.eta }}</span>
        </div>
      </div>
    </div>`,
  props: { state: Object },
  data() {
    return { live: null };
  },
  computed: {
    view() {
      return this.live && this.live.seq > this.state.seq ? this.live : this.state;
    },
  },
  mounted() {
    this.onLive = (message) => {
      if (message.progress && message.seq > (this.live?.seq ?? -1)) this.live = { ...message.progress, seq: message.seq };
    };
    subscribe(this.onLive);
  },
  unmounted() {
    unsubscribe(this.onLive);
  },
};
