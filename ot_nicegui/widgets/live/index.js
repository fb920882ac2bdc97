// The live feed: one socket.io event that carries the training run's progress and the new points
// of every live chart (the run's, the system readings', TensorBoard's), sent once to all the pages
// it concerns. Components subscribe here; the page's socket is attached as soon as it exists (components
// mount before the page opens its socket).
const EVENT = "ot_live";
const handlers = new Set();
let attached = false;

function attach() {
  if (attached) return;
  if (!window.socket) {
    setTimeout(attach, 50);
    return;
  }
  attached = true;
  window.socket.on(EVENT, (message) => {
    for (const handler of handlers) {
      try {
        handler(message);
      } catch (error) {
        console.error(error);
      }
    }
  });
}

export function subscribe(handler) {
  handlers.add(handler);
  attach();
}

export function unsubscribe(handler) {
  handlers.delete(handler);
}
