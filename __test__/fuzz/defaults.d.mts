export declare const DEFAULTS: { runs: number; size: number; parallel: number }
