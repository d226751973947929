#!/bin/sh
echo "$(date +%s.%N) $1 misc" >> /tmp/alpha/o/requests.log
exit 1
