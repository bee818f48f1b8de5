#!/bin/bash
C=/work/main/build/debug/logs/x86_64-boot0.console
V=/work/main/build/debug/x86_64/kernel/vmlinux
last=-1; since=$(date +%s); captured=-1
while true; do
  [ -f $C ] || { sleep 2; continue; }
  if grep -aq "Oops" $C; then
    gdb -batch -ex "set pagination off" -ex "file $V" -ex "target remote :1234" \
      -ex "p/x exec_summary_regs" -ex "info symbol exec_summary_regs.ip" \
      -ex "x/8i exec_summary_regs.ip-16" -ex "thread apply all bt 20" > /tmp/oops.gdb 2>&1
    echo captured-oops >> /tmp/watch2.log; exit 0
  fi
  grep -aq "loopdiag: [0-9]* runs" $C && { echo finished >> /tmp/watch2.log; exit 0; }
  n=$(grep -ac "loopdiag: run" $C)
  now=$(date +%s)
  if [ "$n" != "$last" ]; then last=$n; since=$now; fi
  if [ $((now - since)) -gt 25 ] && [ "$captured" != "$n" ]; then
    captured=$n
    timeout 15 gdb -batch -x $(dirname "$0")/npf-bp.gdb -ex continue > /tmp/hang-$n.out 2>&1
    echo "captured hang at $n" >> /tmp/watch2.log
  fi
  sleep 2
done
