/**
 * What a WebGPU adapter says about itself, as far as choosing a backend needs. Plain objects, so the
 * page (for the model picker's estimates) and the model worker (for the load) judge it the same way.
 */
export interface GpuAdapterLike {
  features: { has(name: string): boolean };
  isFallbackAdapter?: boolean;
  info?: { isFallbackAdapter?: boolean; vendor?: string; architecture?: string };
}

/**
 * A software adapter (SwiftShader, what headless Chromium and GPU-less machines offer) runs WebGPU on
 * the CPU, far slower than the WASM build: the name to say ("google swiftshader"), or null for a
 * hardware adapter. `auto` skips such an adapter; an explicit `webgpu` request still gets it.
 */
export function softwareAdapter(a: GpuAdapterLike): string | null {
  const info = a.info ?? {};
  if (info.isFallbackAdapter === true || a.isFallbackAdapter === true || /swiftshader/i.test(info.architecture ?? '')) {
    return [info.vendor, info.architecture].filter(Boolean).join(' ') || 'fallback';
  }
  return null;
}

/**
 * Whether a backend request runs on WebGPU, given what the adapter is (null: no usable adapter):
 * `wasm` never; `webgpu` on any adapter; `auto` on a hardware adapter only. The one rule the model
 * worker loads by and the model picker sizes by.
 */
export function usesWebGpu(request: 'auto' | 'webgpu' | 'wasm', adapter: { software: boolean } | null): boolean {
  return request !== 'wasm' && adapter !== null && !(adapter.software && request === 'auto');
}
