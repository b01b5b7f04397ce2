// Options: defaults, explicit > HAKMEM_* environment > default, validation
// naming the option, environment parsing, and never failing where the
// environment cannot be read.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import process from "node:process";
import { type HeapOptions, OPTION_TABLE, resetEnvironmentCache, resolveOptions } from "../core/options.ts";
import { attachHeap, createHeap } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";

const ENV_NAMES = Object.values(OPTION_TABLE).map((spec) => spec.env);

/** Runs `body` with the HAKMEM_* variables set to `vars` (the others unset), then puts everything back. */
function withEnv(vars: Record<string, string>, body: () => void): void {
  const saved = new Map(ENV_NAMES.map((name) => [name, process.env[name]]));
  try {
    for (const name of ENV_NAMES) delete process.env[name];
    for (const [name, value] of Object.entries(vars)) process.env[name] = value;
    resetEnvironmentCache();
    body();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    resetEnvironmentCache();
  }
}

function expectInvalid(fn: () => unknown, name: string, value: unknown): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HakmemError, `threw ${error}, not a HakmemError`);
    assert.equal(error.code, "INVALID_OPTION");
    assert.ok(error.message.includes(name), `message ${JSON.stringify(error.message)} does not name ${name}`);
    assert.deepEqual(error.value, value);
    return true;
  }, `${name} = ${JSON.stringify(value)} was accepted`);
}

describe("options: defaults and precedence", () => {
  test("the table lists every option once with a unique HAKMEM_* name", () => {
    assert.equal(new Set(ENV_NAMES).size, ENV_NAMES.length);
    for (const name of ENV_NAMES) assert.match(name, /^HAKMEM_[A-Z_]+$/);
    for (const [key, spec] of Object.entries(OPTION_TABLE)) assert.ok(spec.valid(spec.default), `the default of ${key} is valid`);
  });

  test("with nothing set, every option has its default", () => {
    withEnv({}, () => {
      const options = resolveOptions();
      assert.deepEqual(options, {
        maxBytes: 1 << 30,
        initialBytes: 65536,
        growBytes: 262144,
        tinyMaxSize: 1024,
        poolMaxSize: 262144,
        tinyCache: true,
        tinyCacheCap: 64,
        slabSource: "shared",
        sharedPoolCap: 4096,
        sharedPoolLru: 2,
        poolPrewarm: [],
        debug: false,
        verbose: false,
        logRing: 256,
      });
      for (const [key, spec] of Object.entries(OPTION_TABLE)) assert.deepEqual(options[key as keyof HeapOptions], spec.default, key);
    });
  });

  test("an explicit option beats the environment, which beats the default", () => {
    withEnv({ HAKMEM_LOG_RING: "32", HAKMEM_VERBOSE: "1", HAKMEM_GROW_BYTES: "65536" }, () => {
      const fromEnv = resolveOptions();
      assert.equal(fromEnv.logRing, 32);
      assert.equal(fromEnv.verbose, true);
      assert.equal(fromEnv.growBytes, 65536);
      assert.equal(fromEnv.maxBytes, 1 << 30, "unset: the default");
      const explicit = resolveOptions({ logRing: 8, verbose: false });
      assert.equal(explicit.logRing, 8);
      assert.equal(explicit.verbose, false, "an explicit false is not overridden");
      assert.equal(explicit.growBytes, 65536);
    });
  });

  test("a heap takes its options from the environment", () => {
    withEnv({ HAKMEM_LOG_RING: "2", HAKMEM_VERBOSE: "true" }, () => {
      const heap = createHeap();
      assert.equal(heap.router.isVerbose, true);
      for (let i = 0; i < 5; i++) heap.free(heap.malloc(100 + i));
      assert.equal(heap.router.recentDecisions().length, 2, "the ring holds HAKMEM_LOG_RING decisions");
      assert.equal(createHeap({ verbose: false }).router.isVerbose, false);
    });
  });

  test("the environment is read once, until the cache is reset", () => {
    withEnv({ HAKMEM_TINY_CACHE_CAP: "10" }, () => {
      assert.equal(resolveOptions().tinyCacheCap, 10);
      process.env.HAKMEM_TINY_CACHE_CAP = "20";
      assert.equal(resolveOptions().tinyCacheCap, 10, "cached");
      resetEnvironmentCache();
      assert.equal(resolveOptions().tinyCacheCap, 20, "read again after a reset");
    });
  });
});

describe("options: parsing the environment", () => {
  test("integers", () => {
    withEnv({
      HAKMEM_MAX_BYTES: "16777216",
      HAKMEM_INITIAL_BYTES: "131072",
      HAKMEM_TINY_MAX: "512",
      HAKMEM_POOL_MAX: "65536",
      HAKMEM_SS_CAP: " 12 ",
    }, () => {
      const options = resolveOptions();
      assert.equal(options.maxBytes, 16 << 20);
      assert.equal(options.initialBytes, 131072);
      assert.equal(options.tinyMaxSize, 512);
      assert.equal(options.poolMaxSize, 65536);
      assert.equal(options.sharedPoolCap, 12);
    });
  });

  test("flags", () => {
    for (const text of ["1", "true", "on", "yes", "TRUE"]) {
      withEnv({ HAKMEM_DEBUG: text, HAKMEM_TINY_TLS_SLL: text }, () => {
        assert.equal(resolveOptions().debug, true, `HAKMEM_DEBUG=${text}`);
        assert.equal(resolveOptions().tinyCache, true);
      });
    }
    for (const text of ["0", "false", "off", "no", "", "False"]) {
      withEnv({ HAKMEM_DEBUG: text, HAKMEM_TINY_TLS_SLL: text }, () => {
        assert.equal(resolveOptions().debug, false, `HAKMEM_DEBUG=${JSON.stringify(text)}`);
        assert.equal(resolveOptions().tinyCache, false);
      });
    }
  });

  test("the slab source by number or by name", () => {
    const cases: Array<[string, string]> = [["0", "legacy"], ["1", "shared"], ["2", "strict"], ["legacy", "legacy"], [
      " strict ",
      "strict",
    ]];
    for (const [text, expected] of cases) {
      withEnv({ HAKMEM_TINY_SS_SHARED: text }, () => assert.equal(resolveOptions().slabSource, expected, `HAKMEM_TINY_SS_SHARED=${text}`));
    }
  });

  test("a list of prewarm sizes", () => {
    withEnv({ HAKMEM_POOL_PREWARM: "2048, 8192,,40960" }, () => assert.deepEqual(resolveOptions().poolPrewarm, [2048, 8192, 40960]));
    withEnv({ HAKMEM_POOL_PREWARM: "" }, () => assert.deepEqual(resolveOptions().poolPrewarm, []));
  });

  test("a value out of range in the environment is refused, naming the variable", () => {
    const cases: Array<[string, string, string, unknown]> = [
      ["HAKMEM_LOG_RING", "abc", "logRing", NaN],
      ["HAKMEM_LOG_RING", "0", "logRing", 0],
      ["HAKMEM_TINY_MAX", "4096", "tinyMaxSize", 4096],
      ["HAKMEM_TINY_SS_SHARED", "3", "slabSource", "3"],
      ["HAKMEM_POOL_PREWARM", "1024,x", "poolPrewarm", [1024, NaN]],
      ["HAKMEM_GROW_BYTES", "1.5", "growBytes", 1.5],
    ];
    for (const [variable, text, option, value] of cases) {
      withEnv({ [variable]: text }, () => {
        expectInvalid(() => resolveOptions(), option, value);
        expectInvalid(() => resolveOptions(), variable, value);
        const explicit = { [option]: OPTION_TABLE[option as keyof HeapOptions].default } as HeapOptions;
        assert.doesNotThrow(() => resolveOptions(explicit), "an explicit value hides a bad variable");
      });
    }
  });
});

describe("options: validation", () => {
  test("every option out of range is refused with INVALID_OPTION naming it", () => {
    const bad: Array<[keyof HeapOptions, unknown]> = [
      ["maxBytes", 1000],
      ["maxBytes", 8 * 2 ** 30],
      ["maxBytes", 1.5e6 + 0.5],
      ["initialBytes", -1],
      ["growBytes", 100],
      ["tinyMaxSize", 2000],
      ["tinyMaxSize", -1],
      ["poolMaxSize", 300000],
      ["tinyCache", 1],
      ["tinyCacheCap", 0],
      ["slabSource", "other"],
      ["sharedPoolCap", 0],
      ["sharedPoolLru", 65],
      ["poolPrewarm", [0]],
      ["poolPrewarm", "1024"],
      ["debug", "true"],
      ["verbose", 1],
      ["logRing", 0],
      ["logRing", 2.5],
      ["logRing", NaN],
    ];
    withEnv({}, () => {
      for (const [name, value] of bad) {
        expectInvalid(() => resolveOptions({ [name]: value } as HeapOptions), name, value);
        expectInvalid(() => createHeap({ [name]: value } as HeapOptions), name, value);
      }
    });
  });

  test("an unknown option (a misspelt one) is refused, naming it and the options there are", () => {
    withEnv({}, () => {
      for (const config of [{ maxbytes: 1 << 20 }, { tinycache: false }, { memoryBytes: 1 }]) {
        const key = Object.keys(config)[0];
        assert.throws(
          () => createHeap(config as HeapOptions),
          (error: unknown) =>
            error instanceof HakmemError && error.code === "INVALID_OPTION" && error.value === key &&
            error.message.includes(JSON.stringify(key)) && error.message.includes("maxBytes"),
          key,
        );
        assert.throws(() => attachHeap(new ArrayBuffer(1 << 20), config as HeapOptions), /unknown heap option/);
      }
      const heap = createHeap({ maxBytes: 1 << 24, memory: undefined, backends: undefined, routes: undefined, fallbacks: undefined });
      assert.ok(heap.malloc(8) > 0, "every option and configuration key is known");
    });
  });

  test("options that contradict each other are refused", () => {
    withEnv({}, () => {
      expectInvalid(() => resolveOptions({ tinyMaxSize: 1024, poolMaxSize: 512 }), "poolMaxSize", 512);
      assert.equal(resolveOptions({ tinyMaxSize: 1024, poolMaxSize: 0 }).poolMaxSize, 0, "0 turns the pool off");
      expectInvalid(() => resolveOptions({ initialBytes: 2 << 20, maxBytes: 1 << 20 }), "initialBytes", 2 << 20);
      expectInvalid(() => createHeap({ initialBytes: 2 << 20, maxBytes: 1 << 20 }), "initialBytes", 2 << 20);
    });
  });
});

describe("options: an environment that cannot be read", () => {
  // deno-lint-ignore no-explicit-any
  const runtime = globalThis as any;

  test("resolving options does not throw when every read of the environment throws", () => {
    const deno = runtime.Deno;
    const saved = deno ? { env: deno.env, permissions: deno.permissions } : { env: process.env };
    const denied = () => {
      throw new Error("denied");
    };
    try {
      if (deno) {
        deno.permissions = { querySync: () => ({ state: "granted" }) };
        deno.env = { get: denied, toObject: denied, has: denied };
      } else {
        process.env = new Proxy({}, { get: denied, has: denied, ownKeys: denied }) as typeof process.env;
      }
      resetEnvironmentCache();
      assert.equal(resolveOptions().logRing, 256);
      assert.ok(createHeap().malloc(10) > 0);
      if (deno) {
        deno.permissions = { querySync: denied };
        resetEnvironmentCache();
        assert.equal(resolveOptions().maxBytes, 1 << 30, "a permission query that throws");
        deno.permissions = {};
        resetEnvironmentCache();
        assert.equal(resolveOptions().maxBytes, 1 << 30, "no permission query at all");
      }
    } finally {
      if (deno) {
        deno.env = saved.env;
        deno.permissions = saved.permissions;
      } else {
        process.env = saved.env as typeof process.env;
      }
      resetEnvironmentCache();
    }
  });

  // Deno keeps permissions per test module, so revoking here touches no other file. Runs last in this file.
  test("in Deno without env permission, options resolve to their defaults", {
    skip: typeof runtime.Deno?.permissions?.revokeSync !== "function",
  }, () => {
    const deno = runtime.Deno;
    deno.permissions.revokeSync({ name: "env" });
    assert.notEqual(deno.permissions.querySync({ name: "env", variable: "HAKMEM_LOG_RING" }).state, "granted");
    assert.throws(() => deno.env.get("HAKMEM_LOG_RING"), "reading now throws");
    resetEnvironmentCache();
    assert.equal(resolveOptions().logRing, 256, "the variable is not read, and nothing throws");
    const heap = createHeap();
    assert.ok(heap.malloc(100) > 0);
    assert.equal(heap.router.isVerbose, false);
  });
});
