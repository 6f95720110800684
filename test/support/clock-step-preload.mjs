// A faketime-like seam for the fault campaign (issue 15): loaded into the agent process with
// `node --import`, it moves the wall clock (Date) by the milliseconds written in the file named
// by TAUPAGE_TEST_CLOCK_OFFSET_FILE, read every 50 ms, as a clock step (NTP, a VM resume) does.
// Monotonic time (performance.now, setTimeout, setInterval) is untouched, as on a real host.
import { readFileSync } from 'node:fs';
import { setInterval } from 'node:timers';

const file = process.env.TAUPAGE_TEST_CLOCK_OFFSET_FILE;
if (file !== undefined && file !== '') {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  let offset = 0;
  const read = () => {
    try {
      offset = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      offset = 0;
    }
  };
  read();
  setInterval(read, 50).unref();
  class SteppedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + offset);
      else super(...args);
    }
    static now() {
      return realNow() + offset;
    }
  }
  globalThis.Date = SteppedDate;
}
