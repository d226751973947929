#!/bin/sh
# exit 0 twice, then 3 (x3), then 0
f=/tmp/clog/o/seq.$1; n=$(cat $f 2>/dev/null || echo 0); n=$((n+1)); echo $n > $f
case $n in 1|2) exit 0;; 3|4|5) exit 3;; *) exit 0;; esac
