// Progress lines: every long step of the kit says what it did and how long it took, through a Log it is handed.
export type Log = (message: string) => void;

/** Seconds since `t0` (a Date.now()), for progress lines: "2.4". */
export const seconds = (t0: number): string => ((Date.now() - t0) / 1000).toFixed(1);
