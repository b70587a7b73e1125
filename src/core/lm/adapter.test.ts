import { describe, expect, it } from 'vitest';
import { softwareAdapter } from './adapter';

describe('WebGPU adapters that run on the CPU', () => {
  const features = new Set<string>();
  it('recognises SwiftShader as headless Chromium reports it (info.isFallbackAdapter, architecture)', () => {
    expect(softwareAdapter({ features, info: { isFallbackAdapter: true, vendor: 'google', architecture: 'swiftshader' } })).toBe('google swiftshader');
    expect(softwareAdapter({ features, info: { vendor: 'google', architecture: 'swiftshader' } })).toBe('google swiftshader');
    expect(softwareAdapter({ features, isFallbackAdapter: true })).toBe('fallback');
  });
  it('takes a hardware adapter as one', () => {
    expect(softwareAdapter({ features, info: { isFallbackAdapter: false, vendor: 'nvidia', architecture: 'ampere' } })).toBeNull();
    expect(softwareAdapter({ features })).toBeNull();
  });
});
