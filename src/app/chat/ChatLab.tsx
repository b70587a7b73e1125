/** The chat lab (issue #9): placeholder until the lab lands. */
export function ChatLab() {
  return <section data-testid="chat-lab" className="lab">The chat lab is being built.</section>;
}
