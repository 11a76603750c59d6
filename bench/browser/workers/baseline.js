// The baseline Worker: the same trivial answer as workers/tidings.js, no SDK.

export default {
  async fetch() {
    return new Response('hello\n');
  },
};
