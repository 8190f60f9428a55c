/**
 * A tiny static Linux executable that does nothing until SIGTERM or SIGINT and
 * then exits 0, the entrypoint of every synthesised image (like the pause
 * container's pause(2) loop). Hand-assembled, so no compiler is needed: the
 * ELF headers are built below, the machine code is listed byte by byte.
 *
 * How it waits: PID 1 of a container ignores a signal that has no handler (the
 * kernel drops it for an unkillable init), but a *blocked* signal is never
 * ignored; it stays pending. So the program blocks {SIGINT, SIGTERM} with
 * rt_sigprocmask and then sleeps in rt_sigtimedwait on that set, which returns
 * the signal number: exit 0. -EINTR (e.g. after SIGSTOP/SIGCONT) waits again;
 * any other error exits 1.
 */

/** Where the single PT_LOAD segment is mapped (64 KiB aligned, fine for 4K and 64K pages). */
const LOAD_ADDRESS = 0x400000;
const ELF_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;
const CODE_OFFSET = ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE;

const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;

/**
 * x86-64, Linux syscall ABI: number in rax, arguments in rdi, rsi, rdx, r10.
 * Syscalls: rt_sigprocmask 14, rt_sigtimedwait 128, exit_group 231.
 */
// prettier-ignore
const AMD64_CODE = Buffer.from([
  0x68, 0x02, 0x40, 0x00, 0x00,       // 00: push 0x4002           ; the set {SIGINT, SIGTERM} on the stack
  0x48, 0x89, 0xe6,                   // 05: mov rsi, rsp          ; set
  0x31, 0xff,                         // 08: xor edi, edi          ; how = SIG_BLOCK
  0x31, 0xd2,                         // 0a: xor edx, edx          ; oldset = NULL
  0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // 0c: mov r10d, 8           ; sigsetsize
  0xb8, 0x0e, 0x00, 0x00, 0x00,       // 12: mov eax, 14           ; rt_sigprocmask
  0x0f, 0x05,                         // 17: syscall
  0x85, 0xc0,                         // 19: test eax, eax
  0x75, 0x1f,                         // 1b: jnz fail (0x3c)
  0x48, 0x89, 0xe7,                   // 1d: wait: mov rdi, rsp    ; set
  0x31, 0xf6,                         // 20: xor esi, esi          ; info = NULL
  0x31, 0xd2,                         // 22: xor edx, edx          ; timeout = NULL: forever
  0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // 24: mov r10d, 8           ; sigsetsize
  0xb8, 0x80, 0x00, 0x00, 0x00,       // 2a: mov eax, 128          ; rt_sigtimedwait
  0x0f, 0x05,                         // 2f: syscall
  0x83, 0xf8, 0xfc,                   // 31: cmp eax, -4           ; -EINTR?
  0x74, 0xe7,                         // 34: je wait (0x1d)
  0x31, 0xff,                         // 36: xor edi, edi          ; status 0
  0x85, 0xc0,                         // 38: test eax, eax
  0x79, 0x05,                         // 3a: jns exit (0x41)       ; a signal number: exit 0
  0xbf, 0x01, 0x00, 0x00, 0x00,       // 3c: fail: mov edi, 1      ; status 1
  0xb8, 0xe7, 0x00, 0x00, 0x00,       // 41: exit: mov eax, 231    ; exit_group
  0x0f, 0x05,                         // 46: syscall
]);

/**
 * AArch64, Linux syscall ABI: number in x8, arguments in x0-x3, `svc #0`.
 * Syscalls (generic table): rt_sigprocmask 135, rt_sigtimedwait 137, exit_group 94.
 * Each instruction is one little-endian 32-bit word.
 */
const ARM64_WORDS = [
  0xd10043ff, // 00: sub  sp, sp, #16
  0xd2880041, // 04: movz x1, #0x4002          ; the set {SIGINT, SIGTERM}
  0xf90003e1, // 08: str  x1, [sp]
  0xd2800000, // 0c: movz x0, #0               ; how = SIG_BLOCK
  0x910003e1, // 10: mov  x1, sp               ; set
  0xd2800002, // 14: movz x2, #0               ; oldset = NULL
  0xd2800103, // 18: movz x3, #8               ; sigsetsize
  0xd28010e8, // 1c: movz x8, #135             ; rt_sigprocmask
  0xd4000001, // 20: svc  #0
  0xb5000180, // 24: cbnz x0, fail (0x54)
  0x910003e0, // 28: wait: mov x0, sp          ; set
  0xd2800001, // 2c: movz x1, #0               ; info = NULL
  0xd2800002, // 30: movz x2, #0               ; timeout = NULL: forever
  0xd2800103, // 34: movz x3, #8               ; sigsetsize
  0xd2801128, // 38: movz x8, #137             ; rt_sigtimedwait
  0xd4000001, // 3c: svc  #0
  0xb100101f, // 40: cmn  x0, #4               ; -EINTR?
  0x54ffff20, // 44: b.eq wait (0x28)
  0xb7f80060, // 48: tbnz x0, #63, fail (0x54) ; negative: an error
  0xd2800000, // 4c: movz x0, #0               ; status 0
  0x14000002, // 50: b    exit (0x58)
  0xd2800020, // 54: fail: movz x0, #1         ; status 1
  0xd2800bc8, // 58: exit: movz x8, #94        ; exit_group
  0xd4000001, // 5c: svc  #0
];
const ARM64_CODE = Buffer.alloc(ARM64_WORDS.length * 4);
ARM64_WORDS.forEach((word, i) => ARM64_CODE.writeUInt32LE(word, i * 4));

/** An ELF64 little-endian static executable: header, one R+X PT_LOAD segment of the whole file, code at CODE_OFFSET. */
function elf64(machine: number, code: Buffer): Buffer {
  const size = CODE_OFFSET + code.length;
  const elf = Buffer.alloc(size);
  // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_SYSV; the rest is padding.
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  elf.writeUInt16LE(2, 16); // e_type: ET_EXEC
  elf.writeUInt16LE(machine, 18); // e_machine
  elf.writeUInt32LE(1, 20); // e_version
  elf.writeBigUInt64LE(BigInt(LOAD_ADDRESS + CODE_OFFSET), 24); // e_entry
  elf.writeBigUInt64LE(BigInt(ELF_HEADER_SIZE), 32); // e_phoff: right after this header
  elf.writeBigUInt64LE(0n, 40); // e_shoff: no section headers
  elf.writeUInt32LE(0, 48); // e_flags
  elf.writeUInt16LE(ELF_HEADER_SIZE, 52); // e_ehsize
  elf.writeUInt16LE(PROGRAM_HEADER_SIZE, 54); // e_phentsize
  elf.writeUInt16LE(1, 56); // e_phnum
  elf.writeUInt16LE(64, 58); // e_shentsize
  elf.writeUInt16LE(0, 60); // e_shnum
  elf.writeUInt16LE(0, 62); // e_shstrndx
  const ph = ELF_HEADER_SIZE;
  elf.writeUInt32LE(1, ph); // p_type: PT_LOAD
  elf.writeUInt32LE(5, ph + 4); // p_flags: PF_R | PF_X
  elf.writeBigUInt64LE(0n, ph + 8); // p_offset
  elf.writeBigUInt64LE(BigInt(LOAD_ADDRESS), ph + 16); // p_vaddr
  elf.writeBigUInt64LE(BigInt(LOAD_ADDRESS), ph + 24); // p_paddr
  elf.writeBigUInt64LE(BigInt(size), ph + 32); // p_filesz
  elf.writeBigUInt64LE(BigInt(size), ph + 40); // p_memsz
  elf.writeBigUInt64LE(0x10000n, ph + 48); // p_align
  code.copy(elf, CODE_OFFSET);
  return elf;
}

const BINARIES: Record<string, Buffer> = {
  amd64: elf64(EM_X86_64, AMD64_CODE),
  arm64: elf64(EM_AARCH64, ARM64_CODE),
};

/** Where the executable lives in the image, and the image's Entrypoint. */
export const PAUSE_PATH = '/pause';

/** The pause executable for a linux architecture (`amd64`, `arm64`), or undefined when there is none. */
export function pauseBinary(architecture: string): Buffer | undefined {
  const bin = BINARIES[architecture];
  return bin ? Buffer.from(bin) : undefined;
}
