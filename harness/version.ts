import { packageManifest } from './package-files.js';

/** The package version, from bulkhead's package.json. */
export const VERSION: string = packageManifest().version;
