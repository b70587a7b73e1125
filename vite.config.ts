import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The app is served from any static host; relative base keeps the build portable.
export default defineConfig({
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
