import gdb
gdb.execute("set pagination off")
gdb.execute("file /work/main/build/debug/x86_64/kernel/vmlinux")
gdb.execute("target remote :1234")
inf = gdb.selected_inferior()
def rd(addr):
    return int.from_bytes(inf.read_memory(addr, 8).tobytes(), 'little')
pob = 0xffff888000000000
print("page_offset_base %x" % pob)
gdb.execute("break *0xffffffff8199ff29")
gdb.execute("break *0xffffffff8199ff99")
S = 0x400
fields = [("cr3", S+0x150), ("cr0", S+0x158), ("cr4", S+0x148), ("rip", S+0x178), ("rsp", S+0x1d8), ("cr2", S+0x240), ("efer", S+0xd0), ("idtr.base", S+0x88),
          ("exit_code", 0x70), ("info1", 0x78), ("info2", 0x80), ("intinfo", 0x88), ("event_inj", 0xa8), ("ncr3", 0xb0), ("tlb_ctl/asid", 0x58)]
vmcb = None
for i in range(8):
    gdb.execute("continue")
    pc = int(gdb.parse_and_eval("$pc"))
    if pc == 0xffffffff8199ff29:
        vmcb = pob + int(gdb.parse_and_eval("$rax"))
        tag = "ENTRY"
    else:
        tag = "EXIT "
    if vmcb is None:
        continue
    cpu = gdb.selected_thread().num
    print(tag, "thr", cpu, " ".join("%s=%x" % (n, rd(vmcb + o)) for n, o in fields))
    print("   host cr3 (L1) =", gdb.parse_and_eval("$cr3"))
gdb.execute("delete")
gdb.execute("detach")
