/**
 * The explorer's store, where other features reach it (the chat lab reads the open set's shape).
 * The store itself lives in the explorer's feature folder (src/app/explorer/store.ts).
 */
export * from '../explorer/store';
