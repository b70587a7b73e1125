/** Persona-space extraction (issue #8): placeholder until it lands. */
export function ExtractLab() {
  return <section data-testid="extract-lab" className="lab">Extraction is being built.</section>;
}
