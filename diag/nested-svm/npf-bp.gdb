set pagination off
file /work/main/build/debug/x86_64/kernel/vmlinux
target remote :1234
break kvm_mmu_page_fault
commands
silent
printf "PF gpa=%lx err=%lx insn=%lx len=%d\n", $rsi, $rdx, $rcx, $r8
continue
end
break x86_emulate_instruction
commands
silent
printf "EMUL gpa=%lx type=%lx\n", $rsi, $rdx
continue
end
break kvm_inject_page_fault
commands
silent
printf "INJPF\n"
continue
end
