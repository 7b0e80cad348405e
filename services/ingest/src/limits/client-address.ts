import { isIPv6 } from "node:net";

/**
 * The key a per-address limit counts under: the IPv4 address, or the /64 of an IPv6 address
 * (one subscriber usually holds a whole /64, so counting single IPv6 addresses would let one
 * client take 2^64 budgets). IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address.
 */
export function addressKey(ip: string): string {
  const address = ip.replace(/%.*$/, "").toLowerCase();
  if (!isIPv6(address)) return address;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped) return mapped[1] as string;
  return `${expand(address).slice(0, 4).join(":")}::/64`;
}

/** The eight groups of an IPv6 address, `::` filled with zeros, leading zeros dropped. */
function expand(address: string): string[] {
  const [head = "", tail] = address.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const zeros =
    tail === undefined ? [] : Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => "0");
  return [...left, ...zeros, ...right].map((g) =>
    /^[0-9a-f]{1,4}$/.test(g) ? String(parseInt(g, 16).toString(16)) : g,
  );
}
