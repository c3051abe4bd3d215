#!/bin/sh
# dovesnap's udhcpc script. udhcpc runs it inside the container's network namespace (but in the
# host's mount and PID namespaces) with the event in $1 and the lease in its environment. It
# sets the address on the container's interface, then tells dovesnap by writing one line to the
# FIFO dovesnap reads. Only sh built-ins and iproute2's ip are used; every variable is quoted.
#
# The FIFO is opened read-write (1<>): on Linux that never blocks, so a renewal while dovesnap
# is down cannot hang the client; the line is then simply dropped.

event="${1:-}"
dev="${interface:-}"
prefix="${mask:-32}"
gateway="${router:-}"
gateway="${gateway%% *}"

report() {
    fifo="${DOVESNAP_DHCP_FIFO:-}"
    [ -n "$fifo" ] && [ -p "$fifo" ] || return 0
    printf 'dovesnap-dhcp1 event=%s ep=%s ip=%s mask=%s router=%s lease=%s\n' \
        "$event" "${DOVESNAP_ENDPOINT_ID:-}" "${ip:-}" "$prefix" "$gateway" "${lease:-}" \
        1<>"$fifo"
}

[ -n "$dev" ] || exit 0

case "$event" in
    deconfig)
        ip -4 addr flush dev "$dev"
        ip link set dev "$dev" up
        report
        ;;
    bound|renew)
        case " $(ip -4 -o addr show dev "$dev") " in
            *" $ip/$prefix "*) ;;
            *)
                ip -4 addr flush dev "$dev"
                ip addr add "$ip/$prefix" brd + dev "$dev"
                ;;
        esac
        if [ -n "$gateway" ]; then
            ip route replace default via "$gateway" dev "$dev"
        fi
        report
        ;;
    leasefail|nak)
        report
        ;;
esac
exit 0
