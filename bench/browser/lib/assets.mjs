// What the pages load, prepared once per run in a temporary directory:
// Tidings as a user's bundler would ship it (esbuild: js/index.js + the
// wasm-bindgen glue, minified, with the .wasm beside it), and RudderStack's
// bundled UMD build minified by esbuild (its npm package ships it
// unminified). The other SDKs are served as their packages ship them.

import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

export const benchDir = fileURLToPath(new URL('..', import.meta.url));

/** The directory of a package installed in bench/browser/node_modules (or hoisted from a dependency's). */
export function packageDir(name) {
  const dir = join(benchDir, 'node_modules', name);
  if (!existsSync(join(dir, 'package.json'))) throw new Error(`${name} is not installed: run npm ci in bench/browser`);
  return dir;
}

export function packageVersion(name) {
  return JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')).version;
}

/** Files of each peer SDK, as loaded by the page and as counted for bytes shipped. */
export function peerFiles() {
  const posthog = packageDir('posthog-js');
  const segment = packageDir('@segment/analytics-next');
  const amplitude = packageDir('@amplitude/analytics-browser');
  const rudder = packageDir('@rudderstack/analytics-js');
  return {
    posthog: { dir: join(posthog, 'dist'), main: join(posthog, 'dist/array.js') },
    segment: { dir: join(segment, 'dist/umd'), main: join(segment, 'dist/umd/index.js') },
    amplitude: {
      dir: join(amplitude, 'lib/scripts'),
      main: join(amplitude, 'lib/scripts/amplitude-min.js'),
    },
    rudderstack: {
      bundled: join(rudder, 'dist/npm/modern/bundled/umd/index.js'),
      core: join(rudder, 'dist/npm/modern/umd/index.js'),
    },
  };
}

/**
 * Bundles `tidings-browser` (the package in `tidingsPackage`, resolved through
 * its package.json exports with `conditions`) as a user's bundler would:
 * esbuild, ESM, minified, into `root`/js/`name`. The .wasm files it names
 * are put where the bundle will look for them: an imported .wasm beside it,
 * a `new URL('../pkg/x.wasm', import.meta.url)` at that path under `root`.
 * Resolves { js, wasm: [paths] }.
 */
export async function bundleTidings(tidingsPackage, root, {
  conditions = [], name = 'tidings.min.js', entry = "export * from 'tidings-browser';", ignoreAnnotations = false,
  minify = true,
} = {}) {
  const outDir = join(root, 'js');
  mkdirSync(join(root, 'node_modules'), { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const link = join(root, 'node_modules', 'tidings-browser');
  if (!existsSync(link)) symlinkSync(resolve(tidingsPackage), link, 'dir');
  const entryFile = join(root, `${name}.entry.mjs`);
  writeFileSync(entryFile, entry);
  const outfile = join(outDir, name);
  await esbuild.build({
    entryPoints: [entryFile],
    bundle: true,
    minify,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions,
    target: 'es2022',
    outfile,
    // The Workers entry imports the .wasm (a WebAssembly.Module in workerd):
    // the import stays, the file is copied beside the bundle.
    loader: { '.wasm': 'copy' },
    assetNames: '[name]',
    external: ['node:*'],
    ignoreAnnotations,
    logLevel: 'error',
  });
  const code = readFileSync(outfile, 'utf8');
  const wasm = new Set();
  for (const literal of new Set(code.match(/["'`][\w./-]+\.wasm["'`]/g) ?? [])) {
    const rel = literal.slice(1, -1);
    const target = resolve(outDir, rel);
    if (!target.startsWith(resolve(root) + sep)) continue;
    if (!existsSync(target)) {
      const found = ['pkg', 'pkg-workers', 'pkg-browser']
        .map((d) => join(tidingsPackage, d, basename(rel))).find((f) => existsSync(f));
      if (!found) continue;
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(found, target);
    }
    wasm.add(target);
  }
  if (wasm.size === 0) throw new Error(`the Tidings bundle ${outfile} names no .wasm file that could be found`);
  return { js: outfile, wasm: [...wasm] };
}

/**
 * Builds the served assets into `out`; `tidingsPackage` is the directory
 * holding the tidings-browser package (platforms/browser or a snapshot),
 * `baselinePackage` an optional second one to compare it with.
 */
export async function prepareAssets(out, tidingsPackage, baselinePackage = null) {
  const tidingsOut = join(out, 'tidings');
  mkdirSync(tidingsOut, { recursive: true });
  const tidings = await bundleTidings(tidingsPackage, tidingsOut, { conditions: ['browser'] });
  // Another build of the package (`--baseline-pkg`), measured in the same rounds.
  let baseline = null;
  if (baselinePackage) {
    const baselineOut = join(out, 'tidings-baseline');
    mkdirSync(baselineOut, { recursive: true });
    baseline = { dir: baselineOut, ...(await bundleTidings(baselinePackage, baselineOut, { conditions: ['browser'] })) };
  }
  // The same, unminified, for the profiler (function names kept).
  const devOut = join(out, 'tidings-dev');
  await bundleTidings(tidingsPackage, devOut, { conditions: ['browser'], name: 'tidings.js', minify: false });
  const rudderOut = join(out, 'rudderstack');
  mkdirSync(rudderOut, { recursive: true });
  const peers = peerFiles();
  for (const [src, name] of [[peers.rudderstack.bundled, 'rsa.min.js'], [peers.rudderstack.core, 'rsa-core.min.js']]) {
    const { code } = await esbuild.transform(readFileSync(src, 'utf8'), { minify: true, target: 'es2020', charset: 'utf8' });
    writeFileSync(join(rudderOut, name), code);
  }
  return {
    tidings: { dir: tidingsOut, ...tidings },
    tidingsBaseline: baseline,
    tidingsDev: { dir: devOut },
    rudderstack: { dir: rudderOut, bundled: join(rudderOut, 'rsa.min.js'), core: join(rudderOut, 'rsa-core.min.js') },
  };
}
