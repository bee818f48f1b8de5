#!/bin/bash
args=()
for a in "$@"; do
  [ "$a" = "tcg,thread=multi" ] && a="tcg,thread=single"
  args+=("$a")
done
exec /usr/bin/qemu-system-x86_64 "${args[@]}" -s
