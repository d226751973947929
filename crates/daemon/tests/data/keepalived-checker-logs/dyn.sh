#!/bin/sh
# exit codes in sequence: 5 7 7 0 1 0 0 ...
f=/tmp/clog/o/dyn.$1; n=$(cat $f 2>/dev/null || echo 0); n=$((n+1)); echo $n > $f
case $n in 1) exit 5;; 2|3) exit 7;; 4) exit 0;; 5|6) exit 1;; *) exit 0;; esac
