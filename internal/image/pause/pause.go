// Package pause owns Gureum's pod sandbox ("pause") image. The image is
// built by the project itself, byte for byte, so that a node never has to
// download one: a hand-assembled static ELF for linux/amd64 that blocks in
// pause(2) forever and exits 0 on SIGTERM or SIGINT, packed as a
// single-layer OCI image whose digest never changes.
//
// Only linux/amd64 is built: an arm64 program could be encoded the same way
// but could not be run on the machines this project is tested on, and an
// untested binary in every pod is worse than none.
package pause

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Reference is the name under which the image is pushed to Gureum's own
// registry and configured as containerd's sandbox_image. The host
// gureum.local never resolves: the node's containerd is configured to serve
// it only from the Gureum registry mirror.
const Reference = "gureum.local/pause:1"

// loadAddress is where the single PT_LOAD segment (the whole file) is
// mapped; the conventional non-PIE base keeps the code's absolute
// addresses easy to read in a disassembler.
const loadAddress = 0x400000

const (
	elfHeaderSize     = 64
	programHeaderSize = 56
	codeOffset        = elfHeaderSize + programHeaderSize // 0x78
)

// amd64Program returns the machine code placed at codeOffset. It was
// assembled with GNU as from:
//
//	_start: lea  rsi, [rip+act]      ; struct kernel_sigaction
//	        xor  edx, edx            ; no old action
//	        mov  r10d, 8             ; sizeof(sigset_t)
//	        mov  edi, 15             ; SIGTERM
//	        mov  eax, 13             ; rt_sigaction
//	        syscall
//	        mov  edi, 2              ; SIGINT (rsi, rdx, r10 survive syscall)
//	        mov  eax, 13
//	        syscall
//	1:      mov  eax, 34             ; pause
//	        syscall
//	        jmp  1b
//	handler:xor  edi, edi
//	        mov  eax, 231            ; exit_group(0)
//	        syscall
//	        .p2align 3
//	act:    .quad handler, SA_RESTORER, handler, 0
//
// The handler never returns, but x86-64 Linux refuses to deliver a signal
// to a handler registered without SA_RESTORER (the task gets SIGSEGV
// instead), so the restorer slot points at the handler too. A handler is
// needed at all because PID 1 of a PID namespace ignores signals it has no
// handler for: `ctr task kill` and runtimes that stop a sandbox with
// SIGTERM first would otherwise wait for their timeout. (containerd's CRI
// plugin stops sandbox containers with SIGKILL directly.)
func amd64Program() []byte {
	const (
		handlerOffset = 0x30 // from the start of the code
		actOffset     = 0x40
		saRestorer    = 0x04000000
	)
	code := []byte{
		0x48, 0x8d, 0x35, 0x39, 0x00, 0x00, 0x00, // lea rsi,[rip+0x39] -> act
		0x31, 0xd2, // xor edx,edx
		0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov r10d,8
		0xbf, 0x0f, 0x00, 0x00, 0x00, // mov edi,15
		0xb8, 0x0d, 0x00, 0x00, 0x00, // mov eax,13
		0x0f, 0x05, // syscall
		0xbf, 0x02, 0x00, 0x00, 0x00, // mov edi,2
		0xb8, 0x0d, 0x00, 0x00, 0x00, // mov eax,13
		0x0f, 0x05, // syscall
		0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax,34
		0x0f, 0x05, // syscall
		0xeb, 0xf7, // jmp back to mov eax,34
		// handler (offset 0x30):
		0x31, 0xff, // xor edi,edi
		0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax,231
		0x0f, 0x05, // syscall
		0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00, // nop (alignment)
	}
	if len(code) != actOffset {
		panic(fmt.Sprintf("pause: code is %d bytes, want %d", len(code), actOffset))
	}
	handler := uint64(loadAddress + codeOffset + handlerOffset)
	act := make([]byte, 32)
	binary.LittleEndian.PutUint64(act[0:], handler)
	binary.LittleEndian.PutUint64(act[8:], saRestorer)
	binary.LittleEndian.PutUint64(act[16:], handler)
	// act[24:32]: empty signal mask.
	return append(code, act...)
}

// Binary returns the complete static ELF executable for linux/amd64: an
// ELF header, one read+execute PT_LOAD program header covering the whole
// file, and the program. No sections are needed to run it.
func Binary() []byte {
	code := amd64Program()
	size := uint64(codeOffset + len(code))
	var b bytes.Buffer
	le := binary.LittleEndian
	// e_ident: magic, 64-bit, little-endian, version 1, System V ABI.
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	_ = binary.Write(&b, le, uint16(2))                      // e_type ET_EXEC
	_ = binary.Write(&b, le, uint16(62))                     // e_machine EM_X86_64
	_ = binary.Write(&b, le, uint32(1))                      // e_version
	_ = binary.Write(&b, le, uint64(loadAddress+codeOffset)) // e_entry
	_ = binary.Write(&b, le, uint64(elfHeaderSize))          // e_phoff
	_ = binary.Write(&b, le, uint64(0))                      // e_shoff
	_ = binary.Write(&b, le, uint32(0))                      // e_flags
	_ = binary.Write(&b, le, uint16(elfHeaderSize))          // e_ehsize
	_ = binary.Write(&b, le, uint16(programHeaderSize))      // e_phentsize
	_ = binary.Write(&b, le, uint16(1))                      // e_phnum
	_ = binary.Write(&b, le, uint16(64))                     // e_shentsize
	_ = binary.Write(&b, le, uint16(0))                      // e_shnum
	_ = binary.Write(&b, le, uint16(0))                      // e_shstrndx
	// Program header.
	_ = binary.Write(&b, le, uint32(1))           // p_type PT_LOAD
	_ = binary.Write(&b, le, uint32(5))           // p_flags PF_R|PF_X
	_ = binary.Write(&b, le, uint64(0))           // p_offset
	_ = binary.Write(&b, le, uint64(loadAddress)) // p_vaddr
	_ = binary.Write(&b, le, uint64(loadAddress)) // p_paddr
	_ = binary.Write(&b, le, size)                // p_filesz
	_ = binary.Write(&b, le, size)                // p_memsz
	_ = binary.Write(&b, le, uint64(0x1000))      // p_align
	b.Write(code)
	return b.Bytes()
}

// epoch is the fixed timestamp of the layer's file and the image config,
// so that the digest depends only on the bytes above.
var epoch = time.Unix(0, 0).UTC()

// layerTar returns the deterministic layer: just /pause, owned by root.
func layerTar() ([]byte, error) {
	bin := Binary()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     "pause",
		Mode:     0o755,
		Size:     int64(len(bin)),
		ModTime:  epoch,
		// An explicit format keeps archive/tar from choosing another one
		// (and other bytes) in a later release.
		Format: tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("write pause tar header: %w", err)
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, fmt.Errorf("write pause binary: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close pause tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Image returns the pause image. Its layer is stored uncompressed: gzip's
// output may change between Go releases, while an uncompressed tar of one
// 240-byte file is both smaller to reason about and reproducible forever.
func Image() (v1.Image, error) {
	tarBytes, err := layerTar()
	if err != nil {
		return nil, err
	}
	layer := static.NewLayer(tarBytes, types.OCIUncompressedLayer)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, fmt.Errorf("append pause layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read pause config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{"/pause"}
	cf.Config.Cmd = nil
	cf.Config.WorkingDir = "/"
	cf.History = nil
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set pause config: %w", err)
	}
	return img, nil
}
