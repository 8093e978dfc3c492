/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Kernels of the host emulation (fm_emu_kernels.h): blocks in turn, the
 * threads of a block on fibers.
 *
 * A fiber is a stack and a saved stack pointer; fm_emu_switch saves the
 * callee-saved registers on one stack and restores them from another
 * (x86-64 System V). Fibers are reused: a thread that ends frees its fiber
 * for the next one, so a block needs as many stacks as threads waiting at
 * the same time. Under AddressSanitizer every switch is announced to it
 * (__sanitizer_start_switch_fiber). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <vector>

#include "cuda_runtime.h"

#if !defined(__x86_64__)
#error "the CUDA emulation switches fibers with x86-64 code"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define FM_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FM_EMU_ASAN 1
#endif
#endif
#ifdef FM_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim
namespace {
thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;
} // namespace

extern "C" void fm_emu_switch(void **save_sp, void *to_sp);
extern "C" void fm_emu_fiber_start(void);
__asm__(".text\n"
        ".globl fm_emu_switch\n"
        ".hidden fm_emu_switch\n"
        ".type fm_emu_switch,@function\n"
        "fm_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size fm_emu_switch,.-fm_emu_switch\n"
        ".globl fm_emu_fiber_start\n"
        ".hidden fm_emu_fiber_start\n"
        ".type fm_emu_fiber_start,@function\n"
        "fm_emu_fiber_start:\n"
        "  movq %r12, %rdi\n"
        "  call fm_emu_fiber_main\n"
        "  ud2\n"
        ".size fm_emu_fiber_start,.-fm_emu_fiber_start\n");

namespace {

constexpr size_t STACK_BYTES = 256 << 10;
constexpr unsigned WARP = 32;

struct fiber {
    void *sp = nullptr;
    char *stack = nullptr; /* lowest address, below a guard page */
    unsigned thread = 0;   /* linear index in the block of the thread it runs */
    bool ended = false;    /* the thread returned; the fiber waits for another */
    void *asan_fake = nullptr;
};

struct block_thread {
    fiber *f = nullptr;
    bool done = false;
    int waits = 0; /* 0, or 1 at the block barrier, 2 at its warp's */
    uint64_t gen = 0;
};

struct barrier {
    unsigned arrived = 0, live = 0;
    uint64_t gen = 0;
    unsigned live_lanes = 0; /* warps: a bit per thread that has not ended */
};

/* The state of the block running on this host thread. */
struct block_run {
    const fm_emu::launch_config *c = nullptr;
    void (*body)(void *) = nullptr;
    void *ctx = nullptr;
    std::vector<block_thread> threads;
    barrier block;
    std::vector<barrier> warps;
    /* Shuffle values, two sets of WARP per warp: a shuffle writes the set
     * of its barrier's parity, so one barrier per shuffle is enough (a lane
     * writes a set again only after every lane has read it). */
    std::vector<uint64_t> lanes;
    std::vector<unsigned char> shared;
    fiber *running = nullptr;
    void *scheduler_sp = nullptr;
    const void *scheduler_bottom = nullptr;
    size_t scheduler_size = 0;
};

struct fiber_pool {
    std::vector<fiber *> all, free;
    ~fiber_pool()
    {
        for (fiber *f : all) {
            munmap(f->stack - 4096, STACK_BYTES + 4096);
            delete f;
        }
    }
    fiber *take()
    {
        if (!free.empty()) {
            fiber *f = free.back();
            free.pop_back();
            return f;
        }
        void *m = mmap(nullptr, STACK_BYTES + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (m == MAP_FAILED) fm_emu_misuse("cannot map a fiber stack: %s", strerror(errno));
        mprotect(m, 4096, PROT_NONE); /* a stack overflow faults */
        fiber *f = new fiber;
        f->stack = (char *)m + 4096;
        /* The first switch "returns" into fm_emu_fiber_start with the fiber
         * in r12; the stack is 16-byte aligned at its call. */
        void **top = (void **)(f->stack + STACK_BYTES);
        void **sp = top - 9;
        sp[0] = sp[1] = sp[2] = nullptr; /* r15 r14 r13 */
        sp[3] = f;                        /* r12 */
        sp[4] = sp[5] = nullptr;          /* rbx rbp */
        sp[6] = (void *)fm_emu_fiber_start;
        f->sp = sp;
        all.push_back(f);
        return f;
    }
};

thread_local block_run *run_now = nullptr;
thread_local fiber_pool pool;

void enter_fiber(block_run *r, fiber *f)
{
    r->running = f;
#ifdef FM_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, STACK_BYTES);
    fm_emu_switch(&r->scheduler_sp, f->sp);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    fm_emu_switch(&r->scheduler_sp, f->sp);
#endif
    r->running = nullptr;
}

/* From a fiber back to the block's scheduler. */
void leave_fiber(block_run *r, fiber *f)
{
#ifdef FM_EMU_ASAN
    __sanitizer_start_switch_fiber(&f->asan_fake, r->scheduler_bottom, r->scheduler_size);
    fm_emu_switch(&f->sp, r->scheduler_sp);
    /* Resumed by the block running now, perhaps of a later launch. */
    __sanitizer_finish_switch_fiber(f->asan_fake, &run_now->scheduler_bottom, &run_now->scheduler_size);
#else
    fm_emu_switch(&f->sp, r->scheduler_sp);
#endif
}

void set_thread_index(const block_run *r, unsigned linear)
{
    const dim3 &b = r->c->block;
    if (b.y == 1 && b.z == 1) {
        threadIdx = uint3{linear, 0, 0};
        return;
    }
    threadIdx.x = linear % b.x;
    threadIdx.y = linear / b.x % b.y;
    threadIdx.z = linear / (b.x * b.y);
}

void release_if_met(barrier &b)
{
    if (b.arrived > 0 && b.arrived == b.live) {
        b.arrived = 0;
        b.gen++;
    }
}

/* The calling thread waits at b (kind 1: block, 2: warp) until every live
 * thread it counts has arrived. */
void wait_at(barrier &b, int kind)
{
    block_run *r = run_now;
    fiber *f = r ? r->running : nullptr;
    if (!f) fm_emu_misuse("__syncthreads or a warp shuffle called outside a kernel");
    b.arrived++;
    const uint64_t gen = b.gen;
    release_if_met(b);
    if (b.gen != gen) return;
    block_thread &t = r->threads[f->thread];
    t.waits = kind;
    t.gen = gen;
    leave_fiber(r, f); /* the scheduler sets threadIdx again before it resumes */
}

void run_block(block_run *r)
{
    const dim3 &b = r->c->block;
    const unsigned n = b.x * b.y * b.z, nwarps = (n + WARP - 1) / WARP;
    r->threads.assign(n, block_thread());
    r->block = barrier();
    r->block.live = n;
    r->warps.assign(nwarps, barrier());
    for (unsigned w = 0; w < nwarps; w++) {
        r->warps[w].live = (w + 1) * WARP <= n ? WARP : n - w * WARP;
        r->warps[w].live_lanes = r->warps[w].live == WARP ? ~0u : (1u << r->warps[w].live) - 1;
    }
    r->lanes.assign((size_t)nwarps * WARP * 2, 0);
    if (!r->shared.empty()) memset(r->shared.data(), 0xa5, r->shared.size()); /* uninitialized, as on a GPU */
    unsigned left = n;
    while (left) {
        int progress = 0;
        for (unsigned i = 0; i < n; i++) {
            block_thread &t = r->threads[i];
            if (t.done) continue;
            if (t.f && t.waits) {
                const barrier &bar = t.waits == 1 ? r->block : r->warps[i / WARP];
                if (bar.gen == t.gen) continue;
                t.waits = 0;
            }
            if (!t.f) {
                t.f = pool.take();
                t.f->thread = i;
                t.f->ended = false;
            }
            set_thread_index(r, i);
            enter_fiber(r, t.f);
            progress = 1;
            if (t.f->ended) {
                t.done = true;
                pool.free.push_back(t.f);
                t.f = nullptr;
                left--;
                r->block.live--;
                r->warps[i / WARP].live--;
                r->warps[i / WARP].live_lanes &= ~(1u << (i % WARP));
                release_if_met(r->block);
                release_if_met(r->warps[i / WARP]);
            }
        }
        if (!progress)
            fm_emu_misuse("kernel %s, block (%u,%u,%u): %u threads wait at __syncthreads or a warp shuffle that "
                          "the other threads of their block or warp never reach",
                          r->c->name, blockIdx.x, blockIdx.y, blockIdx.z, left);
    }
}

} // namespace

extern "C" __attribute__((visibility("hidden"), used)) void fm_emu_fiber_main(fiber *f)
{
#ifdef FM_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &run_now->scheduler_bottom, &run_now->scheduler_size);
#endif
    for (;;) {
        block_run *r = run_now;
        r->body(r->ctx);
        f->ended = true;
        leave_fiber(run_now, f);
    }
}

namespace fm_emu {

const uint3 &thread_idx() { return threadIdx; }
const uint3 &block_idx() { return blockIdx; }
const dim3 &block_dim() { return blockDim; }
const dim3 &grid_dim() { return gridDim; }

void run_grid(const launch_config &c, void (*body)(void *), void *ctx)
{
    const uint64_t threads = (uint64_t)c.block.x * c.block.y * c.block.z;
    if (!c.grid.x || !c.grid.y || !c.grid.z || !threads || threads > 1024 || c.block.z > 64 ||
        c.grid.x > 0x7fffffffu || c.grid.y > 65535 || c.grid.z > 65535) {
        fm_emu_set_last_error(cudaErrorInvalidConfiguration);
        return;
    }
    if (c.shared > 48 << 10) {
        fm_emu_set_last_error(cudaErrorInvalidValue);
        return;
    }
    if (c.stream && fm_emu_stream_device(c.stream) != fm_emu_current_device()) {
        fm_emu_set_last_error(cudaErrorInvalidResourceHandle);
        return;
    }
    if (run_now) fm_emu_misuse("kernel %s launched from inside a kernel", c.name);
    fm_emu_count_launch(c.stream);
    block_run r;
    r.c = &c;
    r.body = body;
    r.ctx = ctx;
    r.shared.resize(c.shared);
    run_now = &r;
    gridDim = c.grid;
    blockDim = c.block;
    for (unsigned z = 0; z < c.grid.z; z++)
        for (unsigned y = 0; y < c.grid.y; y++)
            for (unsigned x = 0; x < c.grid.x; x++) {
                blockIdx.x = x;
                blockIdx.y = y;
                blockIdx.z = z;
                run_block(&r);
            }
    run_now = nullptr;
}

void check_pointer_argument(const launch_config &c, int index, const void *p)
{
    if (p && !fm_emu_accessible(p, 0, fm_emu_current_device(), 1))
        fm_emu_misuse("kernel %s: argument %d (%p) is not memory of the current device %d nor pinned host memory",
                      c.name, index + 1, p, fm_emu_current_device());
}

void syncthreads() { wait_at(run_now->block, 1); }

uint64_t shfl_down(unsigned mask, uint64_t value, unsigned delta, int width)
{
    block_run *r = run_now;
    if (!r || !r->running) fm_emu_misuse("a warp shuffle called outside a kernel");
    const unsigned i = r->running->thread, warp = i / WARP, lane = i % WARP;
    barrier &b = r->warps[warp];
    if (mask & ~b.live_lanes)
        fm_emu_misuse("kernel %s: __shfl_down_sync names lanes 0x%x in its mask that have ended or do not exist "
                      "(a block of part of a warp)",
                      r->c->name, mask & ~b.live_lanes);
    if (!(mask >> lane & 1)) fm_emu_misuse("kernel %s: a lane shuffles outside its own mask", r->c->name);
    if (width <= 0 || width > (int)WARP || (width & (width - 1)))
        fm_emu_misuse("kernel %s: shuffle width %d", r->c->name, width);
    uint64_t *lanes = &r->lanes[((size_t)warp * 2 + (b.gen & 1)) * WARP];
    lanes[lane] = value;
    wait_at(b, 2);
    const unsigned segment = lane / (unsigned)width * (unsigned)width;
    const unsigned src = lane + delta;
    return src < segment + (unsigned)width ? lanes[src] : value;
}

void *dynamic_shared()
{
    if (!run_now || !run_now->running) fm_emu_misuse("dynamic shared memory used outside a kernel");
    return run_now->shared.data();
}

} // namespace fm_emu
