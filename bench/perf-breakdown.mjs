#!/usr/bin/env node
// Where a process's CPU went, from a `perf record -g` file (BENCH_PERF=1 bench/logs writes them):
// samples by thread and by category (our JavaScript per source module through the bundle's
// source maps, V8's compilers, the garbage collector's phases, node and libuv, the kernel by
// system call). Plain JavaScript on the machine's Node; needs perf and, for JavaScript frames, the
// /tmp/perf-<pid>.map that `node --perf-basic-prof` wrote. See bench/README.md.
//
//   node bench/perf-breakdown.mjs FILE.data [FILE.data …]   (several files: their samples add up)
// The "JS" rows count each sample under the innermost JavaScript frame's module, with the V8
// builtins, runtime, Node.js C++ and libc code it called (a table after them splits that).
//   node bench/perf-breakdown.mjs --inclusive FILE.data …   also each module's inclusive time on
//                                                            the main thread (everything under it)
//   node bench/perf-breakdown.mjs --functions FILE.data …   also the JavaScript functions (source
//                                                            names) the main thread's samples are in
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const FUNCTIONS = process.argv.includes('--functions');
const INCLUSIVE = process.argv.includes('--inclusive');
const files = process.argv.slice(2).filter((a) => a !== '--functions' && a !== '--inclusive');
/** Rows under this share of the samples are left out of the detail (they are in the subtotals). */
const MIN_SHARE = 0.002;
if (files.length === 0) {
  console.error('usage: node bench/perf-breakdown.mjs FILE.data [FILE.data …]');
  process.exit(2);
}

/** Source maps of the bundle's chunks, by file URL (null: none). */
const maps = new Map();
function sourceMap(url) {
  if (!maps.has(url)) {
    const path = `${fileURLToPath(url)}.map`;
    maps.set(url, existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8'))) : null);
  }
  return maps.get(url);
}

/**
 * The module a JavaScript frame's function belongs to: for the bundle, its source file through
 * the source map (`src/logs/spool-segments.ts`, or the npm package for bundled dependencies);
 * Node's own modules by name (`node:_http_outgoing`).
 */
function jsModule(symbol) {
  return jsFunction(symbol).module;
}

/** Module and source name of a JavaScript frame's function (minified names through the source map). */
function jsFunction(symbol) {
  const name = /^JS:[*^+~']*'?(\S*)/.exec(symbol)?.[1] ?? '';
  const node = /(node:[\w/]+)/.exec(symbol);
  if (node) return { module: node[1], name };
  const bundle = /(file:\/\/\S+\.m?js):(\d+):(\d+)/.exec(symbol);
  if (!bundle) return { module: 'JS (other)', name };
  const map = sourceMap(bundle[1]);
  const entry = map?.findEntry(Number(bundle[2]) - 1, Number(bundle[3]) - 1);
  const source = entry?.originalSource;
  if (!source) return { module: bundle[1].replace(/^.*\//, ''), name };
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  const line = `${source.replace(/^.*?\/((src|node_modules)\/)/, '$1')}:${entry.originalLine + 1}`;
  return {
    module: pkg ? `npm ${pkg[1]}` : source.replace(/^.*?\/(src\/)/, '$1'),
    name: `${entry.name ?? name} (${line})`,
  };
}

const GC = [
  ['GC scavenge', /Scaveng|SemiSpace|MinorM|YoungGeneration/],
  ['GC sweeping', /Sweep/],
  ['GC marking', /Marking|MarkCompact|Mark[A-Z]|Evacuat|PointersUpdat|Compactor|WeakObjects|EphemeronTable/],
  [
    'GC other',
    /Heap::|HeapAllocator|GCTracer|ArrayBufferSweeper|MemoryAllocator::|MemoryReducer|LocalHeap::/,
  ],
];
/** V8's compilers, by tier: the first pattern that a frame of the sample matches names it. */
const COMPILERS = [
  // Maglev uses parts of TurboFan's compiler:: namespace (the heap broker): it goes first.
  ['V8 compile: Maglev (mid-tier)', /maglev::|Maglev/],
  ['V8 compile: TurboFan (optimizing)', /compiler::|turboshaft::|Turbofan|TurboFan|OptimizedCompilationJob/],
  ['V8 compile: Sparkplug (baseline)', /baseline::|Baseline(Batch)?Compil/],
  [
    'V8 compile: parse, bytecode (lazy)',
    /Parser|BytecodeGenerator|interpreter::Bytecode|Compiler::Compile|parsing::|Scanner|PreParser/,
  ],
  [
    'V8 compile: other',
    /OptimizingCompileDispatcher|Compiler::|CompilationJob|Zone::|CodeGenerator|Assembler|InstructionSelector|Deoptimizer/,
  ],
];

/** The kernel's part, named after the system call the sample is in (or fault, interrupt). */
function kernelCategory(frames) {
  const names = frames.map((f) => f.sym);
  if (names.some((n) => /exc_page_fault|do_user_addr_fault|handle_mm_fault/.test(n)))
    return 'kernel: memory faults';
  const call = names.find((n) => /^__(x64|ia32)_sys_|^__do_sys_|^ksys_/.test(n));
  if (!call) {
    if (names.some((n) => /irq|timer|softirq|apic/i.test(n))) return 'kernel: interrupts, timer';
    return 'kernel: scheduling, other';
  }
  const name = call.replace(/^__(x64|ia32)_sys_|^__do_sys_|^ksys_/, '');
  const net = names.some((n) => /sock_|tcp_|unix_stream|inet_|skb|__sys_sendto|__sys_recvfrom/.test(n));
  if (/^(write|writev|pwrite64|pwritev2?)$/.test(name))
    return net ? 'kernel: network send' : 'kernel: file write';
  if (/^(read|readv|pread64|preadv2?)$/.test(name))
    return net ? 'kernel: network receive' : 'kernel: file read';
  if (/^(fdatasync|fsync|sync_file_range)$/.test(name)) return 'kernel: fdatasync';
  if (/^rename/.test(name)) return 'kernel: rename';
  if (
    /^(openat2?|open|close|close_range|newfstatat|fstat|statx|newstat|newlstat|lstat|stat|unlink|unlinkat|mkdir|mkdirat|getdents64|ftruncate|fallocate|access|faccessat2?)$/.test(
      name,
    )
  )
    return 'kernel: file open, close, stat';
  if (/^epoll/.test(name)) return 'kernel: epoll';
  if (/^futex/.test(name)) return 'kernel: futex (thread wake-ups)';
  if (/^(mmap|munmap|mprotect|madvise|brk|mremap)$/.test(name)) return 'kernel: mmap, mprotect, madvise';
  if (/^(sendto|recvfrom|sendmsg|recvmsg|connect|socket|accept4?|shutdown|getsockopt|setsockopt)$/.test(name))
    return 'kernel: network send/receive';
  return `kernel: ${name}`;
}

function category(thread, frames) {
  const leaf = frames[0];
  if (leaf === undefined) return 'unknown';
  if (leaf.dso === '[kernel.kallsyms]') return kernelCategory(frames);
  const symbols = frames.map((f) => f.sym);
  for (const [name, pattern] of GC)
    if (symbols.some((s) => pattern.test(s) && /v8::internal|heap::/.test(s))) return name;
  const native = symbols.filter((s) => !s.startsWith('JS:'));
  for (const [name, pattern] of COMPILERS) if (native.some((s) => pattern.test(s))) return name;
  // JavaScript, with the builtins and runtime calls it made: the innermost JavaScript frame's module.
  const js = frames.find((f) => f.sym.startsWith('JS:') || f.dso.includes('perf-'));
  if (js) {
    const module = jsModule(js.sym);
    return `${module.startsWith('src/') ? 'JS ours' : module.startsWith('npm ') ? 'JS deps' : 'JS node'}: ${module}`;
  }
  if (/^Builtins_/.test(leaf.sym)) return 'V8 builtins (no JS frame)';
  if (
    /^uv_|^uv__/.test(leaf.sym) ||
    (symbols.some((s) => /^uv__fs_work|^uv__work/.test(s)) && leaf.dso.includes('libc'))
  )
    return 'libuv';
  if (symbols.some((s) => /^uv__fs_work|^worker$/.test(s))) return 'libuv';
  if (/^node::|^uv/.test(leaf.sym)) return 'node, libuv (C++)';
  if (/v8::/.test(leaf.sym)) return 'V8 runtime (other)';
  if (leaf.dso.includes('libc'))
    return symbols.some((s) => /^node::|^uv/.test(s)) ? 'node, libuv (C++)' : 'libc (other)';
  return `other: ${leaf.dso.replace(/^.*\//, '')}`;
}

const threadName = (comm) =>
  /^V8|DefaultWorke/.test(comm)
    ? 'V8 workers'
    : /libuv|^uv/.test(comm)
      ? 'libuv pool'
      : comm === 'MainThread' || comm === 'node'
        ? 'main'
        : comm;

const counts = new Map(); // category → thread → samples
const functions = new Map(); // main thread: innermost JavaScript function → samples
const leaves = new Map(); // the JS categories' samples by the code they were in
const inclusive = new Map(); // main thread: module → samples with it anywhere on the stack
const threads = new Map();
let total = 0;
let frequency = 0;
for (const file of files) {
  const header = execFileSync('perf', ['report', '-i', file, '--header-only'], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  frequency = Number(/sample_freq = (\d+)/.exec(header)?.[1] ?? /-F (\d+)/.exec(header)?.[1] ?? 4000);
  const text = execFileSync('perf', ['script', '-i', file, '-F', 'comm,tid,ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) continue;
    const comm = /^(\S.*?)\s+\d+\s*$/.exec(lines[0])?.[1] ?? lines[0].trim();
    const frames = lines.slice(1).map((l) => {
      const m = /^\s*[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$/.exec(l);
      return { sym: m?.[1] ?? '[unknown]', dso: m?.[2] ?? '' };
    });
    const thread = threadName(comm);
    const cat = category(thread, frames);
    if (INCLUSIVE && thread === 'main') {
      const on = new Set(frames.filter((f) => f.sym.startsWith('JS:')).map((f) => jsModule(f.sym)));
      for (const module of on) inclusive.set(module, (inclusive.get(module) ?? 0) + 1);
    }
    if (FUNCTIONS && thread === 'main') {
      const js = frames.find((f) => f.sym.startsWith('JS:'));
      if (js) {
        const fn = jsFunction(js.sym);
        const key = `${fn.module} ${fn.name}`;
        functions.set(key, (functions.get(key) ?? 0) + 1);
      }
    }
    if (cat.startsWith('JS ')) {
      const leaf = frames[0] ?? { sym: '', dso: '' };
      const kind =
        leaf.sym.startsWith('JS:') || leaf.dso.includes('perf-')
          ? 'JIT-compiled or interpreted JavaScript'
          : leaf.sym.startsWith('Builtins_')
            ? "V8's builtins (ICs, Buffer/typed array ops, promises, calls)"
            : /^v8::|^Runtime_/.test(leaf.sym)
              ? "V8's runtime (C++)"
              : /^node::|^uv_|^uv__/.test(leaf.sym)
                ? 'Node.js and libuv C++'
                : leaf.dso.includes('libc')
                  ? 'libc (memcpy, malloc)'
                  : 'other native code';
      leaves.set(kind, (leaves.get(kind) ?? 0) + 1);
    }
    const row = counts.get(cat) ?? new Map();
    row.set(thread, (row.get(thread) ?? 0) + 1);
    counts.set(cat, row);
    threads.set(thread, (threads.get(thread) ?? 0) + 1);
    total++;
  }
}

const seconds = (n) => (n / frequency / files.length).toFixed(3);
const pct = (n) => ((100 * n) / total).toFixed(1);
const threadList = [...threads.keys()].sort((a, b) => threads.get(b) - threads.get(a));
console.log(`${total} samples at ${frequency} Hz in ${files.length} file(s); CPU s are per file (the mean)`);
console.log(`| category | CPU s | % | ${threadList.join(' | ')} |`);
console.log(`|---|---|---|${threadList.map(() => '---').join('|')}|`);
console.log(
  `| all | ${seconds(total)} | 100 | ${threadList.map((t) => seconds(threads.get(t))).join(' | ')} |`,
);
// Subtotals: the part of each name before the colon (JS ours, kernel, V8 compile, GC …).
const groups = new Map();
for (const [cat, row] of counts) {
  const group = cat.startsWith('GC ') ? 'GC' : cat.replace(/:.*$/, '');
  const into = groups.get(group) ?? new Map();
  for (const [t, n] of row) into.set(t, (into.get(t) ?? 0) + n);
  groups.set(group, into);
}
for (const [group, row] of [...groups].sort((a, b) => sum(b[1]) - sum(a[1])))
  console.log(
    `| **${group}** | ${seconds(sum(row))} | ${pct(sum(row))} | ${threadList.map((t) => (row.get(t) ? seconds(row.get(t)) : '')).join(' | ')} |`,
  );
for (const [cat, row] of [...counts].sort((a, b) => sum(b[1]) - sum(a[1])))
  if (sum(row) / total >= MIN_SHARE)
    console.log(
      `| ${cat} | ${seconds(sum(row))} | ${pct(sum(row))} | ${threadList.map((t) => (row.get(t) ? seconds(row.get(t)) : '')).join(' | ')} |`,
    );

function sum(row) {
  let n = 0;
  for (const v of row.values()) n += v;
  return n;
}

console.log('');
console.log('| the "JS" rows by the code the sample was in | CPU s | % of all |');
console.log('|---|---|---|');
for (const [kind, n] of [...leaves].sort((a, b) => b[1] - a[1]))
  console.log(`| ${kind} | ${seconds(n)} | ${pct(n)} |`);

if (INCLUSIVE) {
  console.log('');
  console.log(
    '| main thread: module anywhere on the stack (inclusive: all it called, GC and compiles too) | CPU s | % of all |',
  );
  console.log('|---|---|---|');
  for (const [module, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 30))
    console.log(`| ${module} | ${seconds(n)} | ${pct(n)} |`);
}

if (FUNCTIONS) {
  console.log('');
  console.log(
    '| main thread: innermost JavaScript function (with the builtins, runtime and GC under it) | CPU s | % |',
  );
  console.log('|---|---|---|');
  for (const [fn, n] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 40))
    console.log(`| ${fn} | ${seconds(n)} | ${pct(n)} |`);
}
