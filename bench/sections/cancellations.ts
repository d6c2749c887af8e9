// `npm run bench`'s cancellations section: bench:cancellations (orders placed, then every one
// cancelled with its stock returned) read back into rows, CreateOrder in the same run beside it.
import { num, row, script, times } from "../report.js";

export async function cancellations(): Promise<void> {
  const out = await script("bench/cancellations.ts", []);
  const creates = num(out, /= (\d+) orders\/s/);
  const cancels = num(out, /= (\d+) cancellations\/s/);
  row(
    "CancelOrder with its stock returned, 32 clients",
    `${cancels.toFixed(0)} cancellations/s`,
    `CreateOrder, same run: ${creates.toFixed(0)} orders/s`,
    times(cancels, creates),
    "",
  );
  row(
    "stock after cancelling every order",
    /EXACT/.test(out) ? "EXACT" : "MISMATCH",
    "",
    "",
    "EXACT",
  );
}
