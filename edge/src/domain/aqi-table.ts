/**
 * HJ 633-2012 (环境空气质量指数（AQI）技术规定), Table 1 (breakpoints) and Table 2
 * (levels, categories, colours). Concentrations in µg/m³, CO in mg/m³ — the env monitor
 * reports CO as `co_mgm3`, so no conversion is needed anywhere.
 */

/** The IAQI values at the breakpoints (rows of Table 1). */
export const IAQI_STEPS = [0, 50, 100, 150, 200, 300, 400, 500] as const;

/** One column of Table 1: a concentration scale. */
export type Scale =
  | 'so2_24h' | 'so2_1h' | 'no2_24h' | 'no2_1h' | 'pm10_24h'
  | 'co_24h' | 'co_1h' | 'o3_1h' | 'o3_8h' | 'pm25_24h';

/** Breakpoints per scale; a shorter column means the standard gives no IAQI above its last
 * value (SO₂ 1 h above 800, O₃ 8 h above 800: footnotes 2 and 3 substitute another value). */
export const BREAKPOINTS: Readonly<Record<Scale, readonly number[]>> = {
  so2_24h: [0, 50, 150, 475, 800, 1600, 2100, 2620],
  so2_1h: [0, 150, 500, 650, 800],
  no2_24h: [0, 40, 80, 180, 280, 565, 750, 940],
  no2_1h: [0, 100, 200, 700, 1200, 2340, 3090, 3840],
  pm10_24h: [0, 50, 150, 250, 350, 420, 500, 600],
  co_24h: [0, 2, 4, 14, 24, 36, 48, 60],
  co_1h: [0, 5, 10, 35, 60, 90, 120, 150],
  o3_1h: [0, 160, 200, 300, 400, 800, 1000, 1200],
  o3_8h: [0, 100, 160, 215, 265, 800],
  pm25_24h: [0, 35, 75, 115, 150, 250, 350, 500],
};

/** Unit of each scale's concentrations. */
export const SCALE_UNIT: Readonly<Record<Scale, 'µg/m³' | 'mg/m³'>> = {
  so2_24h: 'µg/m³', so2_1h: 'µg/m³', no2_24h: 'µg/m³', no2_1h: 'µg/m³', pm10_24h: 'µg/m³',
  co_24h: 'mg/m³', co_1h: 'mg/m³', o3_1h: 'µg/m³', o3_8h: 'µg/m³', pm25_24h: 'µg/m³',
};

export interface AqiLevel {
  /** 1..6 */
  level: number;
  /** 一级 … 六级 */
  levelZh: string;
  /** 优, 良, 轻度污染, 中度污染, 重度污染, 严重污染 */
  category: string;
  categoryEn: string;
  /** Table 2 colour name and its RGB. */
  colourZh: string;
  colourEn: string;
  rgb: readonly [number, number, number];
  /** `#RRGGBB` of `rgb`. */
  hex: string;
  /** Highest AQI of this level (Infinity for 六级). */
  maxAqi: number;
}

const hex = (rgb: readonly [number, number, number]): string =>
  `#${rgb.map((c) => c.toString(16).padStart(2, '0').toUpperCase()).join('')}`;
const lvl = (level: number, levelZh: string, category: string, categoryEn: string, colourZh: string, colourEn: string,
  rgb: readonly [number, number, number], maxAqi: number): AqiLevel =>
  ({ level, levelZh, category, categoryEn, colourZh, colourEn, rgb, hex: hex(rgb), maxAqi });

export const AQI_LEVELS: readonly AqiLevel[] = [
  lvl(1, '一级', '优', 'Excellent', '绿色', 'green', [0, 228, 0], 50),
  lvl(2, '二级', '良', 'Good', '黄色', 'yellow', [255, 255, 0], 100),
  lvl(3, '三级', '轻度污染', 'Lightly polluted', '橙色', 'orange', [255, 126, 0], 150),
  lvl(4, '四级', '中度污染', 'Moderately polluted', '红色', 'red', [255, 0, 0], 200),
  lvl(5, '五级', '重度污染', 'Heavily polluted', '紫色', 'purple', [153, 0, 76], 300),
  lvl(6, '六级', '严重污染', 'Severely polluted', '褐红色', 'maroon', [126, 0, 35], Infinity),
];
