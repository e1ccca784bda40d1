// The seed's director commands for the reference lab, verbatim: the product's contract, pinned once.
export const SEED_DIRECTOR = [
  'ifconfig eth0:0 192.168.170.100/24',
  'echo 1 > /proc/sys/net/ipv4/ip_forward',
  'ipvsadm -A -t 192.168.170.100:80 -s rr',
  'ipvsadm -a -t 192.168.170.100:80 -r 192.168.170.102 -g',
  'ipvsadm -a -t 192.168.170.100:80 -r 192.168.170.103 -g',
  'ipvsadm -ln',
];
