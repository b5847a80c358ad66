// systemd's readiness protocol (sd_notify(3)) for the unit's Type=notify: READY=1 once the
// control socket answers and the datapath forwards, STOPPING=1 when uvsd begins to stop. Units
// ordered After=uvsd.service (and `systemctl start uvsd` itself) then wait for a uvsd that
// answers uvsadm, not for a process that has only been started. Without $NOTIFY_SOCKET (not run
// by systemd, or Type=simple) nothing is sent.

import { native } from '../datapath/port.js';

// Read once and taken out of the environment, as sd_notify's unset_environment: the commands
// uvsd runs (health checks, notify scripts) are not systemd's main process.
const socketPath = process.env.NOTIFY_SOCKET;
delete process.env.NOTIFY_SOCKET;

/** Send `text` (lines of KEY=VALUE) to systemd; false when there is no socket or the send failed. */
export function sdNotify(text: string, onError: (message: string) => void): boolean {
  if (socketPath === undefined || socketPath === '') return false;
  try {
    native.sdNotify(socketPath, text);
    return true;
  } catch (e) {
    onError((e as Error).message);
    return false;
  }
}
