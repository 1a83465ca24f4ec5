import { Type, type Static } from 'typebox';
import { Id } from './common.js';

const Name = (lang: string) => Type.String({ minLength: 1, maxLength: 100, pattern: '^\\S(.*\\S)?$', description: `name (${lang})` });

export const SiteView = Type.Object(
  {
    id: Type.String(),
    nameZh: Type.String(),
    nameEn: Type.String(),
    lat: Type.Number({ description: 'WGS 84 latitude, degrees' }),
    lon: Type.Number({ description: 'WGS 84 longitude, degrees' }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { description: 'a site: where devices are installed, with coordinates and zh/en names' },
);
export type SiteView = Static<typeof SiteView>;

export const SiteBody = Type.Object(
  {
    id: Id,
    nameZh: Name('zh-CN'),
    nameEn: Name('en'),
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
  },
  { additionalProperties: false },
);

export const SiteParams = Type.Object({ id: Id }, { additionalProperties: false });

export const SiteList = Type.Object({ items: Type.Array(SiteView) });
