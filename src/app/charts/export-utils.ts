/** Downloads of what is shown: SVG of a chart element, PNG rendered from it, text files. */
import { xmlChars } from '../../core/view/export-table';

export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

export function downloadText(text: string, filename: string, type: string): void {
  downloadBlob(new Blob([text], { type }), filename);
}

/** A standalone SVG document from an <svg> on the page (charts use attributes, not CSS, so it looks the same). */
export function svgString(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  const { width, height } = svg.getBoundingClientRect();
  if (!clone.getAttribute('width')) clone.setAttribute('width', String(Math.round(width)));
  if (!clone.getAttribute('height')) clone.setAttribute('height', String(Math.round(height)));
  clone.querySelectorAll('[data-export="skip"]').forEach((el) => el.remove());
  // XMLSerializer writes control characters in names as they are, which no XML reader accepts.
  const texts = document.createTreeWalker(clone, NodeFilter.SHOW_TEXT);
  for (let n = texts.nextNode(); n; n = texts.nextNode()) n.nodeValue = xmlChars(n.nodeValue ?? '');
  for (const el of [clone, ...clone.querySelectorAll('*')]) for (const a of [...el.attributes]) a.value = xmlChars(a.value);
  return new XMLSerializer().serializeToString(clone);
}

/** Rasterise an SVG document at `scale` x (2 = crisp on slides). */
export function svgToPng(svg: string, width: number, height: number, scale = 2): Promise<Blob | null> {
  return new Promise((resolve) => {
    const img = new Image();
    const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    img.onload = () => {
      const c = document.createElement('canvas');
      c.width = Math.round(width * scale);
      c.height = Math.round(height * scale);
      const ctx = c.getContext('2d')!;
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, c.width, c.height);
      ctx.drawImage(img, 0, 0, c.width, c.height);
      URL.revokeObjectURL(url);
      c.toBlob((b) => resolve(b), 'image/png');
    };
    img.onerror = () => { URL.revokeObjectURL(url); resolve(null); };
    img.src = url;
  });
}

export async function exportChart(svg: SVGSVGElement | null, name: string, kind: 'png' | 'svg'): Promise<void> {
  if (!svg) return;
  const s = svgString(svg);
  if (kind === 'svg') {
    downloadText(s, `persona-space-${name}.svg`, 'image/svg+xml');
    return;
  }
  const { width, height } = svg.getBoundingClientRect();
  const png = await svgToPng(s, width, height);
  if (png) downloadBlob(png, `persona-space-${name}.png`);
}
