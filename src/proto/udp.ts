// UDP as the load balancer sees it (like ip_vs_proto_udp.c): any datagram may open a
// connection; the checksum is optional (0 = none, and stays 0 after a rewrite; a computed 0 is
// sent as 0xffff).

/** Offset of the checksum in the UDP header. */
export const UDP_CSUM = 6;
