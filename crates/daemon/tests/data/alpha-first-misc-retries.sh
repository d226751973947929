#!/bin/sh
# succeeds on its first run, then fails (exit 1); "sleep" as $2 sleeps 3 s instead
F=/tmp/alpha/o/ran.$1
echo "$(date +%s.%N) $1 misc" >> /tmp/alpha/o/requests.log
[ -f $F ] || { touch $F; exit 0; }
[ "$2" = sleep ] && sleep 3
exit 1
